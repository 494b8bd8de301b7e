"""Tests of iyslib.masking: recipients masked, secrets redacted in logs."""
import logging

from iyslib.masking import MaskingFilter, mask_data, mask_recipient, mask_text


def test_mask_recipient():
    assert mask_recipient('+905321234567') == '+90532***4567'
    assert mask_recipient('ali@example.com') == 'a***@example.com'
    assert mask_recipient('') == '***' and mask_recipient(None) == ''


def test_mask_text_masks_people_and_secrets_but_not_dates_or_ids():
    txid = 'a' * 10 + '1234567890' * 5 + 'b' * 4
    text = (f'send to +905321234567, 0532 123 45 67 and Ali.Veli@Example.com at 2026-11-23 12:00:00 tx {txid} '
            'password=hunter2 {"refresh_token": "eyJr.eyJ.sig", "access_token":"tok"} '
            'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig cursor 1741947000_abc')
    out = mask_text(text)
    for secret in ('5321234567', '532 123 45 67', 'Ali.Veli', 'hunter2', 'eyJr', 'eyJhbGci', '"tok"'):
        assert secret not in out, secret
    assert '+90532***4567' in out and 'A***@Example.com' in out
    assert '2026-11-23 12:00:00' in out and txid in out and '1741947000_abc' in out


def test_mask_data_redacts_keys():
    data = {'username': 'iys-demo', 'password': 'x', 'recipients': ['+905321234567'],
            'nested': [{'recipient': 'a@b.co', 'Authorization': 'Bearer x'}]}
    out = mask_data(data)
    assert out['password'] == '***' and out['recipients'] == ['+90532***4567']
    assert out['nested'][0]['recipient'] == 'a***@b.co' and out['nested'][0]['Authorization'] == '***'
    assert data['password'] == 'x'  # input untouched


def test_logging_filter_masks_args_and_exceptions(caplog):
    logger = logging.getLogger('iyslib.test.masking')
    logger.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger='iyslib.test.masking'):
            logger.info('consent for %s with %s', '+905321234567', {'password': 'sekret', 'access_token': 'abc'})
            try:
                raise ValueError('bad recipient ali@example.com')
            except ValueError:
                logger.exception('failed for %s', 'veli@example.com')
    finally:
        logger.filters.clear()
    assert '+90532***4567' in caplog.text and '5321234567' not in caplog.text
    assert 'sekret' not in caplog.text and "'abc'" not in caplog.text
    assert 'ali@example.com' not in caplog.text and 'a***@example.com' in caplog.text
    assert 'v***@example.com' in caplog.text
