# Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
{
    "name": "Türkiye - İYS (İleti Yönetim Sistemi)",
    "summary": "Consent ledger, send gate and İYS synchronisation for commercial "
    "e-mail, SMS and calls (Law 6563)",
    "version": "18.0.1.2.0",
    "category": "Marketing/Email Marketing",
    "website": "https://github.com/l10n-tr-iys/l10n_tr_iys",
    "author": "l10n_tr_iys contributors",
    "license": "LGPL-3",
    "countries": ["tr"],
    "depends": [
        "contacts",
        "mass_mailing_sms",
        "mass_mailing_crm",
    ],
    "external_dependencies": {
        "python": ["phonenumbers", "email_validator", "requests", "holidays", "openpyxl"],
    },
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "views/iys_account_views.xml",
        "views/iys_consent_views.xml",
        "views/iys_consent_event_views.xml",
        "views/res_config_settings_views.xml",
        "views/res_partner_views.xml",
        "views/crm_lead_views.xml",
        "views/mailing_contact_views.xml",
        "wizards/iys_consent_wizard_views.xml",
        "views/mailing_mailing_views.xml",
        "views/mailing_trace_views.xml",
        "views/mail_compose_message_views.xml",
        "views/sms_composer_views.xml",
        "views/iys_mailing_transactional_views.xml",
        "views/menus.xml",
        "views/iys_outbox_views.xml",
        "wizards/iys_sync_wizard_views.xml",
        "views/iys_consent_import_views.xml",
        "data/iys_consent_import_data.xml",
        "views/iys_dealer_gate_views.xml",
    ],
    "demo": [
        "demo/iys_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "l10n_tr_iys/static/src/scss/iys_backend.scss",
        ],
        "web.assets_tests": [
            "l10n_tr_iys/static/src/tests/tours/**/*",
        ],
    },
    "application": True,
}
