/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// Opens the İYS app from the apps menu: it lands on the panel, which loads its heavy sections
// after the first paint (each by its own call). Follows the number of contacts
// that may receive an SMS now to the filtered list of contacts behind it.
registry.category("web_tour.tours").add("l10n_tr_iys_panel", {
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the İYS app",
            trigger: ".o_app[data-menu-xmlid='l10n_tr_iys.menu_iys_root']",
            run: "click",
        },
        {
            content: "The app opens on the panel: the cheap sections paint first",
            trigger: ".o_iys_panel .o_iys_panel_queue .o_iys_panel_card",
        },
        {
            content: "The audience arrives by its own calls and replaces its placeholder",
            trigger: ".o_iys_panel .o_iys_panel_audience .o_iys_panel_table",
        },
        {
            content: "Every heavy section has arrived (no placeholder left)",
            trigger: ".o_iys_panel:not(:has(.o_iys_panel_section_loading)):not(:has(.o_iys_panel_section_failed))",
        },
        {
            content: "The queue to İYS is shown",
            trigger: ".o_iys_panel .o_iys_panel_queue .o_iys_panel_card",
        },
        {
            content: "The movements graph is drawn",
            trigger: ".o_iys_panel .o_iys_panel_movements canvas",
        },
        {
            content: "Open the contacts that may receive an SMS now (default brand)",
            trigger: ".o_iys_panel_audience tbody tr:first-child:contains('Brand A') td:nth-child(4) a.o_iys_panel_value",
            run: "click",
        },
        {
            content: "The list shows exactly the contacts counted",
            trigger: ".o_list_view .o_data_row:contains('Tour Allowed')",
        },
        {
            content: "and not the others",
            trigger: ".o_list_view:not(:has(.o_data_row:contains('Tour Blocked')))",
        },
        {
            content: "The breadcrumb leads back to the panel",
            trigger: ".o_breadcrumb .breadcrumb-item a",
        },
    ],
});
