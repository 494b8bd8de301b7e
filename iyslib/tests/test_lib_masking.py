"""Tests of iyslib.masking: recipients masked, secrets redacted in logs."""
import io
import logging
import re

import pytest

from iyslib.masking import MaskingFilter, mask_data, mask_recipient, mask_text

#: the same number in every spelling people type
SPELLINGS = ['+905321112233', '905321112233', '05321112233', '5321112233', '0532 111 22 33', '532 111 22 33',
             '+90 532 111 22 33', '(0532) 111-22-33', '0090 532 111 22 33', '0532\u2013111\u201322\u201333',
             '+90\u2009532\u202f111\u00a022 33', '\u200e+905321112233', '٠٥٣٢١١١٢٢٣٣']


def _digits(text):
    return re.findall(r'\d', text)


@pytest.mark.parametrize('raw', SPELLINGS)
def test_mask_recipient_shows_country_code_3_and_last_2_digits(raw):
    masked = mask_recipient(raw)
    assert masked == '+90532*****33'
    # country code (2) + first 3 of the national number + last 2: 5 of 10 national digits stay hidden
    assert len(_digits(masked)) == 7 and masked.count('*') == 5
    assert '11122' not in masked and '1112233' not in masked


def test_mask_recipient_other_numbers_and_emails():
    assert mask_recipient('+4915112345678') == '+49151******78'            # 11-digit national number
    assert mask_recipient('+905321234567') == '+90532*****67'
    bad = mask_recipient('053211122334')                                  # not a valid number: digits only
    assert bad == '053*******34' and len(_digits(bad)) == 5
    assert mask_recipient('12345678901') == '123******01'                 # e.g. an identity number
    assert mask_recipient('ali@example.com') == 'a***@example.com'
    assert mask_recipient('çağrı.yılmaz@örnek.com.tr') == 'ç***@örnek.com.tr'
    assert mask_recipient('') == '***' and mask_recipient(None) == ''


@pytest.mark.parametrize('line,secret', [
    ("E-posta adresi 'çağrı.yılmaz@example.com' geçersiz", 'ağrı'),
    ('alıcı ayşe.öz@örnek.com.tr', 'yşe.öz'),
    ('ALİ@EXAMPLE.COM', 'Lİ@'),
    ('a@b.c', 'a@'),
    ('mailto:veli@example', 'veli'),
])
def test_mask_text_unicode_emails(line, secret):
    out = mask_text(line)
    assert secret not in out and '***@' in out


@pytest.mark.parametrize('spelled', SPELLINGS)
def test_mask_text_hides_every_phone_spelling(spelled):
    out = mask_text(f'import row 7: phone {spelled}; status ONAY')
    assert '+90532*****33' in out
    assert out.startswith('import row 7: phone ') and out.endswith('; status ONAY')
    assert len(_digits(out)) == 1 + 7        # the row number and the 7 visible digits


def test_mask_text_masks_people_and_secrets_but_not_dates_or_ids():
    txid = 'a' * 10 + '1234567890' * 5 + 'b' * 4
    text = (f'send to +905321234567, 0532 123 45 67 and Ali.Veli@Example.com at 2026-11-23 12:00:00 tx {txid} '
            'password=hunter2 {"refresh_token": "eyJr.eyJ.sig", "access_token":"tok"} '
            'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig cursor 1741947000_abc')
    out = mask_text(text)
    people = out.split(' tx ')[0]
    for secret in ('1234567', '123 45 67', 'Ali.Veli'):
        assert secret not in people, secret
    for secret in ('5321234567', 'hunter2', 'eyJr', 'eyJhbGci', '"tok"'):
        assert secret not in out, secret
    assert out.count('+90532*****67') == 2 and 'A***@Example.com' in out
    assert '2026-11-23 12:00:00' in out and txid in out and '1741947000_abc' in out


def test_mask_data_redacts_keys():
    data = {'username': 'iys-demo', 'password': 'x', 'recipients': ['+905321234567'],
            'nested': [{'recipient': 'a@b.co', 'Authorization': 'Bearer x'}]}
    out = mask_data(data)
    assert out['password'] == '***' and out['recipients'] == ['+90532*****67']
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
    assert '+90532*****67' in caplog.text and '1234567' not in caplog.text
    assert 'sekret' not in caplog.text and "'abc'" not in caplog.text
    assert 'ali@example.com' not in caplog.text and 'a***@example.com' in caplog.text
    assert 'v***@example.com' in caplog.text


def test_logging_filter_masks_unicode_email_and_national_phone():
    logger = logging.getLogger('iyslib.test.masking.unicode')
    logger.addFilter(MaskingFilter())
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info('H120: %s', "E-posta adresi 'çağrı.yılmaz@example.com' geçersiz")
        logger.info('import row: phone %s', '532 111 22 33')
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()
    out = buf.getvalue()
    assert 'çağrı' not in out and 'ç***@example.com' in out
    assert '532 111' not in out and '+90532*****33' in out


def test_mask_text_hides_numbers_written_back_to_back():
    out = mask_text('phones 0532 111 22 33 0533 222 33 44 end')
    assert '111 22' not in out and '222 33' not in out and '5331' not in out.replace(' ', '')
    assert out.endswith(' end') and len(_digits(out)) == 5
