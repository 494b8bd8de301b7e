"""iyslib: a pure-Python library for the Turkish İYS (İleti Yönetim Sistemi) consent registry.

It normalises recipients, applies İYS's consent rules locally, talks to the İYS REST API with
token caching, throttling and safe retries, and ships a faithful local simulator for tests and
demos.  It has no Odoo dependency; runtime dependencies are requests, phonenumbers,
email-validator and holidays.

Main entry points::

    from iyslib import IysClient, IysConfig, validate_consent, normalize_phone
"""
from .const import (
    BATCH_MAX,
    BATCH_POLL_DELAY,
    DATE_FORMAT,
    ENVIRONMENTS,
    HS_SOURCES,
    IYS_SOURCES,
    MIN_CONSENT_DATE,
    MULTI_STATUS_MAX,
    PHONE_TYPES,
    PULL_LIMIT_MAX,
    RECIPIENT_TYPES,
    STATUSES,
    TR_TZ,
    TYPES,
    is_iys_source,
)
from .dates import (
    add_business_days,
    business_days_between,
    deadline,
    is_business_day,
    parse_iys_date,
    to_iys_date,
)
from .errors import (
    H_CODES,
    IysApiError,
    IysAuthError,
    IysError,
    IysOutcomeUnknownError,
    IysRateLimitError,
    IysServerError,
    IysTokenLockError,
    IysTransportError,
    IysValidationError,
    explain,
)
from .client import (
    UNKNOWN, BatchItemResult, BatchSubmitResult, ChangesPage, ConsentReceipt, ConsentRecord, FileTokenStore,
    FileVerification, IysClient, IysConfig, LockingTokenStore, MemoryTokenStore, TokenStore,
)
from .masking import MaskingFilter, mask_recipient, mask_text
from .throttle import Throttle
from .normalize import normalize_email, normalize_phone, normalize_recipient
from .rules import (
    BatchValidation,
    CurrentState,
    validate_batch,
    validate_body,
    validate_consent,
    validate_fields,
    validate_transition,
)

__version__ = '0.1.0'

__all__ = [
    'BATCH_MAX', 'BATCH_POLL_DELAY', 'DATE_FORMAT', 'ENVIRONMENTS', 'HS_SOURCES', 'IYS_SOURCES',
    'MIN_CONSENT_DATE', 'MULTI_STATUS_MAX', 'PHONE_TYPES', 'PULL_LIMIT_MAX', 'RECIPIENT_TYPES', 'STATUSES',
    'TR_TZ', 'TYPES', 'is_iys_source',
    'add_business_days', 'business_days_between', 'deadline', 'is_business_day', 'parse_iys_date',
    'to_iys_date',
    'H_CODES', 'IysApiError', 'IysAuthError', 'IysError', 'IysOutcomeUnknownError', 'IysRateLimitError',
    'IysServerError',
    'IysTokenLockError', 'IysTransportError', 'IysValidationError', 'explain',
    'UNKNOWN', 'BatchItemResult', 'BatchSubmitResult', 'ChangesPage', 'ConsentReceipt', 'ConsentRecord',
    'FileTokenStore', 'FileVerification', 'IysClient', 'IysConfig', 'LockingTokenStore', 'MemoryTokenStore',
    'TokenStore', 'Throttle',
    'MaskingFilter', 'mask_recipient', 'mask_text',
    'normalize_email', 'normalize_phone', 'normalize_recipient',
    'BatchValidation', 'CurrentState', 'validate_batch', 'validate_body', 'validate_consent',
    'validate_fields', 'validate_transition',
]
