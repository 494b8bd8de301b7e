"""Exceptions of the İYS library, the H-code table and the retry policy.

Every failure the library reports is an :class:`IysError`.  The subclass tells what happened, and two
attributes tell the caller what to do:

* ``retryable``: whether sending the same request again later can succeed;
* ``retry_after``: the minimum number of seconds to wait before doing so (``None`` when not
  retryable).  :meth:`IysError.retry_delay` turns it into a jittered exponential back-off for
  repeated failures.

Retry semantics are decided in this module only.  Callers (for example an outbox) just obey them.

A third attribute, ``outcome_unknown``, is True when a request that must not be repeated blindly
(a V1 add or batch, a retailer creation …) was sent but no usable answer came back (timeout,
dropped connection, 5xx, unreadable answer).  İYS may or may not have recorded it, so such an
error is **not** retryable (:class:`IysOutcomeUnknownError`): query the status (or use the
idempotent V2 endpoints) before sending anything again.

``H_CODES`` maps every İYS error code of the core API to ``(http_status, english, turkish,
retry_class)`` where ``retry_class`` is ``'Y'`` (transient: retry with back-off), ``'W'`` (wait for
the limit window, then retry) or ``'N'`` (fix the data; never resend unchanged).
"""
from __future__ import annotations

import json
import random

__all__ = [
    'H_CODES', 'IysError', 'IysValidationError', 'IysApiError', 'IysAuthError', 'IysRateLimitError',
    'IysTokenLockError', 'IysServerError', 'IysTransportError', 'IysOutcomeUnknownError', 'explain', 'retry_class',
    'error_from_response', 'parse_error_items', 'default_retry_after', 'BODY_CODES', 'resend_can_succeed',
]

_Y, _W, _N = 'Y', 'W', 'N'

#: code -> (HTTP status, English explanation, Turkish explanation, retry class)
H_CODES: dict[str, tuple[int | None, str, str, str]] = {
    # --- general / lookup -------------------------------------------------------------------
    'H001': (404, 'The service provider (iysCode) was not found.',
             'Hizmet sağlayıcı (iysCode) bulunamadı.', _N),
    'H014': (400, 'The request body is not valid JSON.',
             'İstek gövdesi geçerli bir JSON değil.', _N),
    'H015': (500, 'Unexpected error on the İYS side; try again later.',
             'İYS tarafında beklenmeyen bir hata oluştu; daha sonra tekrar deneyin.', _Y),
    'H016': (400, 'Retailer: invalid input; check the required fields.',
             'Bayi: geçersiz girdi; zorunlu alanları kontrol edin.', _N),
    'H017': (400, 'Retailer: a field exceeds its maximum length.',
             'Bayi: bir alan izin verilen azami uzunluğu aşıyor.', _N),
    'H018': (404, 'The brand (brandCode) was not found.',
             'Marka (brandCode) bulunamadı.', _N),
    'H031': (404, 'The user was not found (integrator).',
             'Kullanıcı bulunamadı (entegratör).', _N),
    'H058': (404, 'The retailer was not found.',
             'Bayi bulunamadı.', _N),
    'H060': (500, 'The retailer could not be updated; try again later.',
             'Bayi güncellenemedi; daha sonra tekrar deneyin.', _Y),
    'H061': (500, 'The retailer could not be deleted; try again later.',
             'Bayi silinemedi; daha sonra tekrar deneyin.', _Y),
    'H062': (500, 'The retailer could not be saved; try again later.',
             'Bayi kaydedilemedi; daha sonra tekrar deneyin.', _Y),
    'H067': (400, 'No free 8-digit retailer codes are left.',
             'Üretilebilecek 8 haneli bayi kodu kalmadı.', _N),
    'H082': (400, 'İYS could not list the enumeration values; try again later.',
             'İYS sabit değer listesini getiremedi; daha sonra tekrar deneyin.', _Y),
    # --- rate limits ------------------------------------------------------------------------
    'H083': (429, 'Per-second request limit reached (10 requests/s per IP); slow down and retry.',
             'Saniye başına istek sınırına ulaşıldı (IP başına saniyede 10 istek); yavaşlayıp tekrar '
             'deneyin.', _W),
    'H084': (429, 'Hourly token request limit reached. Do not call the token service again for one '
                  'hour: every retry restarts the hour.',
             'Saatlik kimlik doğrulama (jeton) istek sınırına ulaşıldı. Bir saat boyunca jeton servisini '
             'yeniden çağırmayın: her deneme bir saatlik süreyi baştan başlatır.', _W),
    'H085': (400, 'The consent add request is invalid.',
             'İzin ekleme isteği geçersiz.', _N),
    'H086': (429, 'Hourly limit of single consent status queries reached (1000/hour); wait and retry, '
                  'or use the multiple status query.',
             'Tekil izin durumu sorgulamanın saatlik sınırına ulaşıldı (saatte 1000); bekleyip tekrar '
             'deneyin ya da çoklu izin durumu sorgulamayı kullanın.', _W),
    'H089': (429, 'Hourly limit of consent history queries reached (100/hour); wait and retry.',
             'İzin geçmişi sorgulamanın saatlik sınırına ulaşıldı (saatte 100); bekleyip tekrar deneyin.',
             _W),
    'H090': (400, 'The retailer add request is invalid.',
             'Bayi ekleme isteği geçersiz.', _N),
    'H091': (422, 'Too many consents in one request: at most 1000; split the list.',
             'Bir istekte çok fazla izin var: en fazla 1000 olabilir; listeyi bölün.', _N),
    'H092': (400, 'The batch consent request is invalid.',
             'Çoklu izin ekleme isteği geçersiz.', _N),
    'H093': (422, 'transactionId not found (on push registration: username or password missing).',
             'transactionId bulunamadı (push kaydında: kullanıcı adı veya şifre eksik).', _N),
    'H095': (400, 'The transaction request is invalid.',
             'İşlem (transaction) isteği geçersiz.', _N),
    'H097': (400, 'The consent query is invalid.',
             'İzin sorgulama isteği geçersiz.', _N),
    'H098': (400, 'The daily change query is invalid.',
             'Günlük izin değişikliği sorgulama isteği geçersiz.', _N),
    # --- server side -----------------------------------------------------------------------
    'H100': (500, 'İYS could not save recovery data; try again later.',
             'İYS kurtarma verisini kaydedemedi; daha sonra tekrar deneyin.', _Y),
    'H101': (500, 'İYS could not save the primary data; try again later.',
             'İYS esas veriyi kaydedemedi; daha sonra tekrar deneyin.', _Y),
    'H102': (500, 'Encryption failed on the İYS side; try again later.',
             'İYS tarafında şifreleme yapılamadı; daha sonra tekrar deneyin.', _Y),
    'H103': (500, 'The search failed on the İYS server; try again later.',
             'İYS sunucusunda arama yapılamadı; daha sonra tekrar deneyin.', _Y),
    'H105': (500, 'Decryption failed on the İYS side; try again later.',
             'İYS tarafında şifre çözme başarısız oldu; daha sonra tekrar deneyin.', _Y),
    'H106': (500, 'İYS could not build the status report; try again later.',
             'İYS durum raporunu oluşturamadı; daha sonra tekrar deneyin.', _Y),
    'H107': (500, 'İYS could not list the consents; try again later.',
             'İYS izinleri listeleyemedi; daha sonra tekrar deneyin.', _Y),
    # --- consent fields ---------------------------------------------------------------------
    'H110': (422, 'The consent status (status) is missing.',
             'İzin durumu (status) eksik.', _N),
    'H111': (422, 'The consent type (type) is missing.',
             'İzin tipi (type) eksik.', _N),
    'H112': (422, 'The consent date (consentDate) is missing.',
             'İzin tarihi (consentDate) eksik.', _N),
    'H113': (422, 'The consent source (source) is missing.',
             'İzin kaynağı (source) eksik.', _N),
    'H114': (422, 'The recipient (recipient) is missing.',
             'Alıcı (recipient) eksik.', _N),
    'H115': (422, 'Invalid status: allowed values are ONAY and RET.',
             'Geçersiz durum (status): izin verilen değerler ONAY ve RET.', _N),
    'H116': (422, 'Invalid recipient type: allowed values are BIREYSEL and TACIR.',
             'Geçersiz alıcı tipi (recipientType): izin verilen değerler BIREYSEL ve TACIR.', _N),
    'H117': (422, 'Invalid consent type: allowed values are ARAMA, MESAJ and EPOSTA.',
             'Geçersiz izin tipi (type): izin verilen değerler ARAMA, MESAJ ve EPOSTA.', _N),
    'H118': (422, 'Unknown field in the request body. Allowed: recipientType, retailerAccess, recipient, '
                  'retailerCode, source, type, consentDate, status.',
             'İstek gövdesinde tanınmayan bir alan var. İzin verilen alanlar: recipientType, '
             'retailerAccess, recipient, retailerCode, source, type, consentDate, status.', _N),
    'H119': (422, 'Invalid consent source: use one of the HS_* values (IYS_* sources are set by İYS only).',
             'Geçersiz izin kaynağı (source): HS_* değerlerinden birini kullanın (IYS_* kaynakları '
             'yalnızca İYS tarafından atanır).', _N),
    'H120': (422, 'Invalid e-mail address: ASCII only, no spaces, only + as special character in the '
                  'local part, 6 to 265 characters.',
             'Geçersiz e-posta adresi: yalnızca ASCII karakterler, boşluksuz, yerel kısımda özel karakter '
             'olarak yalnızca + ve 6 ile 265 karakter arası olmalıdır.', _N),
    'H121': (422, 'Invalid phone number: it must be in E.164 form (e.g. +905321112233) and in use.',
             'Geçersiz telefon numarası: E.164 biçiminde (ör. +905321112233) ve kullanımda olmalıdır.',
             _N),
    'H122': (422, 'The recipient is neither a valid phone number nor a valid e-mail address.',
             'Alıcı ne geçerli bir telefon numarası ne de geçerli bir e-posta adresi.', _N),
    'H123': (400, 'The İYS service is busy; try again later.',
             'İYS servisi şu anda meşgul; daha sonra tekrar deneyin.', _Y),
    'H124': (429, 'Per-second request limit reached; slow down and retry.',
             'Saniye başına istek sınırına ulaşıldı; yavaşlayıp tekrar deneyin.', _W),
    'H125': (422, 'At most 1000 consents can be added in one batch; split the list.',
             'Tek seferde en fazla 1000 izin eklenebilir; listeyi bölün.', _N),
    'H126': (422, 'The retailer list is longer than 100.',
             'Bayi listesi 100 kayıttan uzun.', _N),
    'H127': (422, 'The recipients list is longer than 100.',
             'Alıcı listesi (recipients) 100 kayıttan uzun.', _N),
    'H129': (404, 'The integrator was not found.',
             'Entegratör bulunamadı.', _N),
    # --- dates ----------------------------------------------------------------------------
    'H155': (422, 'Consents with source HS_2015 (obtained before 1 May 2015) must be dated exactly '
                  '2015-05-01 00:00:00.',
             'Kaynağı HS_2015 (1 Mayıs 2015 öncesi) olan izinlerin tarihi tam olarak 2015-05-01 00:00:00 '
             'olmalıdır.', _N),
    'H156': (422, 'Consent dates before 1 May 2015 are not accepted.',
             '1 Mayıs 2015 tarihinden önceki izin tarihleri kabul edilmez.', _N),
    'H157': (422, 'The date is not a valid calendar date and time.',
             'Tarih geçerli bir takvim tarihi ve saati değil.', _N),
    'H158': (422, 'The date must have the format YYYY-MM-DD HH:mm:ss (Turkish local time).',
             'Tarih YYYY-AA-GG SS:dd:ss biçiminde (Türkiye saati) olmalıdır.', _N),
    'H160': (422, 'Phone numbers cannot be longer than 15 characters.',
             'Telefon numarası 15 karakterden uzun olamaz.', _N),
    'H162': (422, 'The consent date is in the future. A few seconds or minutes ahead is usually clock drift '
                  'between the HS and İYS (the same request succeeds once İYS\'s clock has passed the date); '
                  'a date further ahead is a data error: correct the date.',
             'İzin tarihi ileri bir tarih. Birkaç saniye ya da dakikalık fark genellikle HS ile İYS arasındaki '
             'saat farkıdır (İYS saati bu tarihi geçince aynı istek başarılı olur); daha ileri bir tarih veri '
             'hatasıdır: tarihi düzeltin.', _W),
    'H163': (422, 'The retailer list is empty.',
             'Bayi listesi boş.', _N),
    'H164': (422, 'The recipients list is empty.',
             'Alıcı listesi (recipients) boş.', _N),
    'H166': (422, 'Phone numbers cannot be longer than 15 characters.',
             'Telefon numarası 15 karakterden uzun olamaz.', _N),
    'H168': (422, 'The recipients list (recipients) is missing.',
             'Alıcı listesi (recipients) eksik.', _N),
    'H169': (422, 'The retailer list (retailerAccess) is missing.',
             'Erişim verilecek bayi listesi (retailerAccess) eksik.', _N),
    'H170': (422, 'The recipient type (recipientType) is missing.',
             'Alıcı tipi (recipientType) eksik.', _N),
    'H171': (400, 'The retailer access grant request is invalid.',
             'Bayiye izin erişimi verme isteği geçersiz.', _N),
    'H172': (400, 'The retailer access removal request is invalid.',
             'Bayi izin erişimini kaldırma isteği geçersiz.', _N),
    'H173': (400, 'The retailer access query is invalid.',
             'Bayi izin erişimi sorgulama isteği geçersiz.', _N),
    # --- transitions ------------------------------------------------------------------------
    'H174': (400, 'The status must differ from the one on record (RET cannot follow RET).',
             'İzin durumu kayıttaki durumdan farklı olmalıdır (RET üzerine RET gönderilemez).', _N),
    'H175': (400, 'A first record cannot be RET: an address never recorded needs no rejection.',
             'İlk kez kaydedilen bir izin RET olamaz: İYS’de hiç kaydı olmayan adres için ret kaydı '
             'gerekmez.', _N),
    'H176': (400, 'Only the admin account can do this.',
             'Bu işlem yalnızca yönetici (admin) hesabıyla yapılabilir.', _N),
    'H178': (400, 'The consent date must be later than the date already on record.',
             'İzin tarihi, kayıttaki izin tarihinden sonra olmalıdır.', _N),
    'H179': (500, 'İYS could not compare the consent dates; try again later.',
             'İYS izin tarihlerini karşılaştıramadı; daha sonra tekrar deneyin.', _Y),
    'H180': (403, 'No retailer with this retailerCode belongs to the user.',
             'Bu bayi koduyla (retailerCode) kullanıcıya ait bir bayi bulunamadı.', _N),
    'H181': (500, 'İYS could not list the retailers; try again later.',
             'İYS bayileri listeleyemedi; daha sonra tekrar deneyin.', _Y),
    'H182': (422, 'The offset (or limit) value is invalid.',
             'offset (veya limit) değeri geçersiz.', _N),
    'H183': (422, 'The limit (or offset) value is invalid.',
             'limit (veya offset) değeri geçersiz.', _N),
    'H184': (422, 'The "all" parameter is invalid.',
             '"all" parametresi geçersiz.', _N),
    'H185': (422, 'The "short" parameter is invalid.',
             '"short" parametresi geçersiz.', _N),
    'H186': (422, 'The page size can be at most 100.',
             'Sayfa boyutu en fazla 100 olabilir.', _N),
    'H187': (422, 'The limit cannot be zero.',
             'limit değeri sıfır olamaz.', _N),
    'H190': (422, 'iysCode must be an integer.',
             'iysCode tam sayı olmalıdır.', _N),
    'H191': (422, 'brandCode must be an integer (on push registration: the connection timed out).',
             'brandCode tam sayı olmalıdır (push kaydında: bağlantı zaman aşımına uğradı).', _N),
    'H192': (503, 'The request timed out on the İYS side; retry (for adds: use V2 or check status first).',
             'İstek İYS tarafında zaman aşımına uğradı; tekrar deneyin (izin eklemede V2 kullanın ya da '
             'önce durumu sorgulayın).', _Y),
    'H193': (422, 'A retailer code or recipient is repeated in the list.',
             'Listede bir bayi kodu veya alıcı tekrarlanıyor.', _N),
    'H194': (422, 'The same (recipientType, type, recipient) appears twice in the batch; send one movement '
                  'per address per batch.',
             'Aynı (recipientType, type, recipient) listede iki kez geçiyor; bir listede her adres için '
             'tek hareket gönderin.', _N),
    'H195': (403, 'İYS could not look up the brand; try again later.',
             'İYS marka bilgisini arayamadı; daha sonra tekrar deneyin.', _Y),
    'H196': (403, 'İYS could not resolve the iysCode; try again later.',
             'İYS iysCode bilgisini elde edemedi; daha sonra tekrar deneyin.', _Y),
    'H197': (422, 'The search text is missing.',
             'Arama metni (text) eksik.', _N),
    'H198': (422, 'requestId cannot be longer than 36 characters.',
             'requestId 36 karakterden uzun olamaz.', _N),
    'H199': (422, 'requestId cannot consist of letters only.',
             'requestId yalnızca harflerden oluşamaz.', _N),
    'H201': (400, 'Invalid retailer status: use active, passive or suspended.',
             'Geçersiz bayi durumu: active, passive veya suspended kullanın.', _N),
    # --- retailer fields ---------------------------------------------------------------------
    'H214': (400, 'Retailer trade name (title) cannot be empty.',
             'Bayi ticaret unvanı (title) boş bırakılamaz.', _N),
    'H215': (400, "Retailer's authorised person name (name) cannot be empty.",
             'Bayi yetkilisinin adı (name) boş bırakılamaz.', _N),
    'H216': (400, "Retailer's authorised person TCKN cannot be empty.",
             'Bayi yetkilisinin T.C. kimlik numarası (tckn) boş bırakılamaz.', _N),
    'H217': (400, 'Retailer city (city) cannot be empty.',
             'Bayi ili (city) boş bırakılamaz.', _N),
    'H218': (400, 'Retailer city code (city.code) cannot be empty.',
             'Bayi il kodu (city.code) boş bırakılamaz.', _N),
    'H219': (400, 'Retailer city name (city.name) cannot be empty.',
             'Bayi il adı (city.name) boş bırakılamaz.', _N),
    'H220': (400, 'Retailer town (town) cannot be empty.',
             'Bayi ilçesi (town) boş bırakılamaz.', _N),
    'H221': (400, 'Retailer town code (town.code) cannot be empty.',
             'Bayi ilçe kodu (town.code) boş bırakılamaz.', _N),
    'H222': (400, 'Retailer town name (town.name) cannot be empty.',
             'Bayi ilçe adı (town.name) boş bırakılamaz.', _N),
    'H223': (400, 'Retailer field validation failed (code not in the 3.2.0 table).',
             'Bayi alanı doğrulanamadı (kod 3.2.0 tablosunda yok).', _N),
    'H224': (400, 'Retailer mobile number is not in E.164 form.',
             'Bayi cep telefonu E.164 biçiminde değil.', _N),
    'H225': (400, 'The identity number (TCKN) is invalid.',
             'Kimlik numarası (TCKN) geçersiz.', _N),
    'H226': (400, 'The identity number (TCKN) must have 11 digits.',
             'Kimlik numarası (TCKN) 11 haneli olmalıdır.', _N),
    'H227': (400, 'The retailer MERSIS number is invalid.',
             'Bayi MERSİS numarası geçersiz.', _N),
    'H228': (400, 'The MERSIS number must have 16 characters.',
             'MERSİS numarası 16 karakter olmalıdır.', _N),
    'H229': (400, 'The alias must be alphanumeric.',
             'Takma ad (alias) alfanümerik olmalıdır.', _N),
    'H230': (400, 'The MERSIS number must be unique.',
             'MERSİS numarası tekil olmalıdır.', _N),
    'H231': (400, 'The identity number must be unique.',
             'Kimlik numarası tekil olmalıdır.', _N),
    'H241': (400, 'İYS could not fetch the enumeration; try again later.',
             'İYS sabit değerleri getiremedi; daha sonra tekrar deneyin.', _Y),
    'H243': (400, 'Enter a valid tax identification number (VKN).',
             'Geçerli bir vergi kimlik numarası (VKN) girin.', _N),
    'H244': (400, 'The tax number (tin) must have 10 or 11 digits.',
             'Vergi numarası (tin) 10 veya 11 haneli olmalıdır.', _N),
    'H245': (400, "The iysCode does not belong to the integrator's group.",
             'iysCode entegratör grubuna ait değil.', _N),
    'H250': (400, 'Username or password is missing.',
             'Kullanıcı adı veya şifre eksik.', _N),
    'H251': (401, 'The credentials are invalid; check the API username and password.',
             'Kimlik bilgileri geçersiz; API kullanıcı adını ve şifresini kontrol edin.', _N),
    'H252': (400, 'Authentication failed: credentials are missing.',
             'Kimlik doğrulanamadı: kimlik bilgileri eksik.', _N),
    'H253': (400, 'A passive retailer with the same MERSIS/TCKN already exists under this iysCode.',
             'Bu iysCode altında aynı MERSİS/TCKN ile kayıtlı pasif bir bayi zaten var.', _N),
    'H266': (400, 'iysCode (or retailerCode) is missing from the request.',
             'iysCode (veya retailerCode) istekte bulunamadı.', _N),
    'H267': (400, 'iysCode (or retailerCode) must not be empty.',
             'iysCode (veya retailerCode) boş olmamalıdır.', _N),
    'H268': (404, 'No integrator user is tied to this iysCode.',
             'Bu iysCode’a bağlı entegratör kullanıcısı bulunamadı.', _N),
    'H288': (400, 'The tax number (tin) cannot be empty.',
             'Vergi numarası (tin) boş olamaz.', _N),
    # --- authorisation ----------------------------------------------------------------------
    'H351': (401, 'Missing or invalid access token; log in again.',
             'Erişim jetonu eksik veya geçersiz; yeniden oturum açın.', _Y),
    'H353': (403, 'The iysCode or brandCode does not match the permissions of this API user.',
             'iysCode veya brandCode bu API kullanıcısının yetkileriyle eşleşmiyor.', _N),
    'H355': (404, 'The user lacks the required permission.',
             'Kullanıcının gerekli yetkisi yok.', _N),
    'H363': (400, 'This user is not authorised for this service.',
             'Bu kullanıcının bu servisi kullanma yetkisi yok.', _N),
    'H400': (422, 'requestId cannot consist of digits only.',
             'requestId yalnızca rakamlardan oluşamaz.', _N),
    'H401': (400, 'The consent to which retailers are being added does not exist.',
             'Bayi eklenmek istenen izin sistemde bulunmuyor.', _N),
    'H402': (400, 'The authorised-brand query is invalid.',
             'Yetkili marka sorgulama isteği geçersiz.', _N),
    'H403': (400, 'The consent status query is invalid.',
             'İzin durumu sorgulama isteği geçersiz.', _N),
    'H404': (422, 'The search text must contain at least one character.',
             'Arama metni en az bir karakter içermelidir.', _N),
    'H405': (400, 'The brand information query is invalid.',
             'Marka bilgisi sorgulama isteği geçersiz.', _N),
    'H408': (422, 'Consents with source HS_KARAR must have status RET.',
             'Kaynağı HS_KARAR olan izinlerin durumu RET olmalıdır.', _N),
    'H412': (500, 'Unexpected error on the İYS side; try again later.',
             'İYS tarafında beklenmeyen bir hata oluştu; daha sonra tekrar deneyin.', _Y),
    'H437': (404, 'No subscription was found.',
             'Abonelik bulunamadı.', _N),
    # --- ViA-related (H450-H465) -----------------------------------------------------------
    'H450': (422, 'ViA: the consent type is invalid.',
             'ViA: izin tipi geçersiz.', _N),
    'H451': (422, 'ViA: the request is invalid (code not in the 3.2.0 table).',
             'ViA: istek geçersiz (kod 3.2.0 tablosunda yok).', _N),
    'H452': (422, 'ViA: for ARAMA and MESAJ the source must be IYS_CM or IYS_KISAMESAJ.',
             'ViA: ARAMA ve MESAJ için izin kaynağı IYS_CM veya IYS_KISAMESAJ olmalıdır.', _N),
    'H453': (422, 'ViA: at most 2 operations per recipient per day; try again tomorrow.',
             'ViA: bir alıcı için günde en fazla 2 işlem yapılabilir; yarın tekrar deneyin.', _W),
    'H454': (422, 'ViA: the requestId is invalid.',
             'ViA: istek numarası (requestId) geçersiz.', _N),
    'H455': (422, 'ViA: the verification code is invalid.',
             'ViA: doğrulama kodu (verificationCode) geçersiz.', _N),
    'H456': (422, 'ViA: no process found for this requestId.',
             'ViA: bu requestId ile ilgili işlem bulunamadı.', _N),
    'H457': (422, 'ViA: the request is invalid (code not in the 3.2.0 table).',
             'ViA: istek geçersiz (kod 3.2.0 tablosunda yok).', _N),
    'H458': (422, 'ViA: the request is invalid (code not in the 3.2.0 table).',
             'ViA: istek geçersiz (kod 3.2.0 tablosunda yok).', _N),
    'H459': (422, 'ViA: the recipient calls for type MESAJ or ARAMA.',
             'ViA: bu alıcı için izin tipi MESAJ veya ARAMA olmalıdır.', _N),
    'H460': (422, 'ViA: the data could not be verified.',
             'ViA: girilen veriler doğrulanamadı.', _N),
    # --- TACIR / recipient / deadline --------------------------------------------------------
    'H462': (400, 'Updating a TACIR consent requires consentDate.',
             'TACIR izni güncellenirken izin tarihi (consentDate) verilmelidir.', _N),
    'H463': (400, 'Updating a TACIR consent requires source.',
             'TACIR izni güncellenirken izin kaynağı (source) verilmelidir.', _N),
    'H464': (422, 'Recipient and type do not match: MESAJ/ARAMA need a phone number, EPOSTA an e-mail '
                  'address.',
             'Alıcı ile izin tipi uyuşmuyor: MESAJ/ARAMA için telefon numarası, EPOSTA için e-posta adresi '
             'gerekir.', _N),
    'H465': (422, 'ViA: a new process for this recipient cannot start within 3 minutes.',
             'ViA: bu alıcı için 3 dakika içinde yeni bir süreç başlatılamaz.', _W),
    'H467': (422, 'The consent is older than 3 business days and can no longer be recorded.',
             'İzin 3 iş gününden daha eski olduğu için artık kaydedilemez.', _N),
    'H470': (500, 'Unexpected error on the İYS side; try again later.',
             'İYS tarafında beklenmeyen bir hata oluştu; daha sonra tekrar deneyin.', _Y),
    'H476': (500, 'Unexpected error on the İYS side; try again later.',
             'İYS tarafında beklenmeyen bir hata oluştu; daha sonra tekrar deneyin.', _Y),
    'H478': (422, 'recipients must be a list.',
             'Alıcılar (recipients) liste olmalıdır.', _N),
    'H486': (400, 'The consent source is not accepted: use one of the HS_* values.',
             'İzin kaynağı (source) kabul edilmedi: HS_* değerlerinden birini kullanın.', _N),
    # --- reconciliation / pull ----------------------------------------------------------------
    'H501': (422, 'reportDate must have the format YYYY-MM-DD.',
             'reportDate YYYY-AA-GG biçiminde olmalıdır.', _N),
    'H502': (422, 'reportDate can be at most 7 days in the past.',
             'reportDate en fazla 7 gün öncesi olabilir.', _N),
    'H506': (422, 'Invalid pull source: use IYS or HS.',
             'Geçersiz çekme kaynağı (source): IYS veya HS kullanın.', _N),
    'H507': (422, 'The pull limit can be at most 1000.',
             'Çekme sayfa boyutu (limit) en fazla 1000 olabilir.', _N),
    'H512': (422, 'agreementStatus must be true.',
             'agreementStatus değeri true olmalıdır.', _N),
    # --- subscription --------------------------------------------------------------------------
    'H520': (403, 'The subscription is PAUSED or EXPIRED: only the subscription query is allowed.',
             'Abonelik PAUSED veya EXPIRED durumunda: yalnızca abonelik sorgulaması yapılabilir.', _N),
    'H521': (403, 'The subscription is CLOSED: the API cannot be used.',
             'Abonelik CLOSED durumunda: API kullanılamaz.', _N),
    'H522': (400, 'Only an integrator API user can do this.',
             'Bu işlem yalnızca entegratör API kullanıcısıyla yapılabilir.', _N),
    'H524': (403, 'No subscription record exists for this iysCode.',
             'Bu iysCode için abonelik kaydı bulunamadı.', _N),
    'H525': (422, 'The consent quota of the subscription is used up.',
             'Aboneliğin izin kotası doldu.', _N),
    'H530': (422, 'The push connection could not be created.',
             'Push bağlantısı oluşturulamadı.', _N),
    'H531': (422, 'The push URL must start with https.',
             'Push bağlantı adresi (url) https ile başlamalıdır.', _N),
    'H568': (None, 'Reject hash links can be generated only for ONAY consents.',
             'Ret bağlantısı yalnızca ONAY durumundaki izinler için üretilebilir.', _N),
    'H586': (403, 'The subscription package does not include API use.',
             'Abonelik paketi API kullanımını içermiyor.', _N),
}

#: Codes that mean "too many requests" (handled by :class:`IysRateLimitError`).
RATE_LIMIT_CODES = frozenset({'H083', 'H124', 'H086', 'H089'})
#: 'W'-class codes that are not rate limits: the same request succeeds after a wait (H162: the
#: consent date is still ahead of İYS's clock).  They are reported as :class:`IysApiError`.
_WAIT_NOT_LIMIT_CODES = frozenset({'H162'})
#: Codes that mean the credentials or the token are wrong.
AUTH_CODES = frozenset({'H250', 'H251', 'H252', 'H351'})

#: Default minimum wait (seconds) per retryable code when İYS sends no Retry-After header.
_DEFAULT_RETRY_AFTER = {
    'H083': 1.0,
    'H124': 1.0,
    'H084': 3600.0,
    # The hourly windows of these counters are not documented; re-trying does not restart them.
    'H086': 300.0,
    'H089': 300.0,
    'H453': 3600.0,
    'H465': 180.0,
    # Clock drift: İYS's clock passes the consent date within seconds; a minute is a safe margin.
    'H162': 60.0,
    'H351': 0.0,
}
_SERVER_RETRY_AFTER = 30.0      # 5xx and Y-class codes
_TRANSPORT_RETRY_AFTER = 15.0   # timeouts, dropped connections, malformed JSON
_MAX_RETRY_DELAY = 3600.0


#: Codes by which İYS refuses the movement itself (its fields, its address, its date, or its
#: transition from what İYS holds): sending the same body again is refused again, whatever is fixed
#: elsewhere.  Other refusals (credentials, permissions, subscription, quota, a duplicate in one batch
#: …) can succeed once their cause is fixed.
BODY_CODES = frozenset({
    'H085', 'H110', 'H111', 'H112', 'H113', 'H114', 'H115', 'H116', 'H117', 'H118', 'H119', 'H120', 'H121',
    'H122', 'H155', 'H156', 'H157', 'H158', 'H160', 'H166', 'H170', 'H174', 'H175', 'H178', 'H408', 'H462',
    'H463', 'H464', 'H467', 'H486',
})


def resend_can_succeed(code: str | None) -> bool:
    """Whether sending a refused movement again, unchanged, can succeed once the cause is fixed."""
    return (code or '') not in BODY_CODES


def retry_class(code: str | None) -> str | None:
    """Return ``'Y'``, ``'W'`` or ``'N'`` for a known H-code, ``None`` for an unknown one."""
    entry = H_CODES.get(code or '')
    return entry[3] if entry else None


def default_retry_after(code: str | None, http_status: int | None = None) -> float | None:
    """Seconds to wait before retrying after *code*/*http_status*; ``None`` when not retryable."""
    if code in _DEFAULT_RETRY_AFTER:
        return _DEFAULT_RETRY_AFTER[code]
    rc = retry_class(code)
    if rc in ('Y', 'W'):
        return _SERVER_RETRY_AFTER
    if rc is None and http_status is not None and (http_status >= 500 or http_status == 429):
        return 1.0 if http_status == 429 else _SERVER_RETRY_AFTER
    return None


def explain(code: str | None, lang: str = 'en') -> str:
    """Human explanation of an İYS error code in English (``'en'``) or Turkish (``'tr'``)."""
    entry = H_CODES.get(code or '')
    if not entry:
        if lang == 'tr':
            return f'Bilinmeyen İYS hata kodu: {code}.' if code else 'İYS hatası.'
        return f'Unknown İYS error code: {code}.' if code else 'İYS error.'
    return entry[2] if lang == 'tr' else entry[1]


class IysError(Exception):
    """Base class of every error reported by the library.

    Attributes:
        code: the İYS H-code (``'H174'``) or ``None``.
        http_status: HTTP status of İYS's answer, ``None`` when nothing was answered.
        message: İYS's text, or the library's own specific text.
        index: 0-based position of the item in a batch, or ``None``.
        location: the offending field path as a list (``['recipient']``), or ``None``.
        value: the rejected value, or ``None``.
        retryable: True when the same request may succeed later.
        retry_after: minimum seconds to wait before retrying (``None`` when not retryable).
        errors: all the errors of a multi-error answer (this one included), as IysError objects.
        outcome_unknown: True when the request was sent and İYS may have processed it although no
            usable answer came back (see :class:`IysOutcomeUnknownError`).
    """

    default_retryable = False

    def __init__(self, message: str = '', code: str | None = None, http_status: int | None = None,
                 index: int | None = None, location=None, value=None, retryable: bool | None = None,
                 retry_after: float | None = None, errors: list | None = None, detail_en: str | None = None,
                 outcome_unknown: bool = False):
        self.outcome_unknown = bool(outcome_unknown)
        self.code = code
        self.http_status = http_status
        self.message = message or explain(code, 'tr')
        self.index = index
        self.location = list(location) if isinstance(location, (list, tuple)) else (
            [location] if location is not None else None)
        self.value = value
        if retryable is None:
            rc = retry_class(code)
            retryable = self.default_retryable or rc in ('Y', 'W')
        self.retryable = bool(retryable)
        if self.retryable and retry_after is None:
            retry_after = default_retry_after(code, http_status)
            if retry_after is None:
                retry_after = _TRANSPORT_RETRY_AFTER if http_status is None else _SERVER_RETRY_AFTER
        self.retry_after = float(retry_after) if (self.retryable and retry_after is not None) else None
        self.errors = errors if errors is not None else [self]
        self.detail_en = detail_en
        super().__init__(self.__str__())

    def __str__(self):
        parts = []
        if self.code:
            parts.append(self.code)
        if self.http_status:
            parts.append(f'HTTP {self.http_status}')
        head = ' '.join(parts)
        idx = f' [index {self.index}]' if self.index is not None else ''
        return f'{head}{idx}: {self.message}' if head else f'{self.message}{idx}'

    def explain(self, lang: str = 'en') -> str:
        """Explain the error for a human, in English (``'en'``) or Turkish (``'tr'``).

        The text combines the general meaning of the H-code with the specific detail (field and
        value) and, when retryable, the advised wait.
        """
        base = explain(self.code, lang) if self.code else ''
        if lang == 'tr':
            detail = self.message
        elif self.detail_en:
            detail = self.detail_en
        elif self.code and self.message:
            detail = f'İYS: {self.message}'
        else:
            detail = self.message
        if base and detail and detail != base:
            text = f'{base} ({detail})'
        else:
            text = base or detail
        if self.index is not None:
            text = (f'Satır {self.index}: ' if lang == 'tr' else f'Item {self.index}: ') + text
        if self.retryable and self.retry_after:
            if lang == 'tr':
                text += f' En erken {int(self.retry_after)} saniye sonra yeniden denenebilir.'
            else:
                text += f' May be retried after {int(self.retry_after)} seconds.'
        return text

    def retry_delay(self, attempt: int = 1, jitter: bool = True, rng=random) -> float | None:
        """Delay before retry number *attempt* (1-based): ``retry_after`` doubled per attempt.

        The result is capped at one hour and jittered by up to +25 % unless *jitter* is False.
        Returns ``None`` when the error is not retryable.  H084 is never shortened.
        """
        if not self.retryable:
            return None
        base = self.retry_after if self.retry_after is not None else _SERVER_RETRY_AFTER
        if self.code == 'H084':
            return base
        delay = min(_MAX_RETRY_DELAY, max(base, 1.0) * (2 ** max(0, attempt - 1)))
        if jitter:
            delay *= 1 + rng.random() * 0.25
        return min(delay, _MAX_RETRY_DELAY * 1.25)

    def to_dict(self) -> dict:
        """Plain-dict form, handy for logs and for storing on an outbox record."""
        return {
            'type': type(self).__name__, 'code': self.code, 'http_status': self.http_status,
            'message': self.message, 'index': self.index, 'location': self.location, 'value': self.value,
            'retryable': self.retryable, 'retry_after': self.retry_after, 'outcome_unknown': self.outcome_unknown,
        }

    def to_iys_item(self) -> dict:
        """This error in İYS's ``errors[]`` item shape (used by the simulator)."""
        item = {'code': self.code, 'message': self.message}
        if self.location:
            item['location'] = self.location
        if self.value is not None:
            item['value'] = self.value
        if self.index is not None:
            item['index'] = self.index
        return item


class IysValidationError(IysError):
    """A local rule refused the data before sending; ``code`` is what İYS would have answered."""

    def __init__(self, code: str, message: str = '', **kw):
        kw.setdefault('http_status', None)
        kw.setdefault('retryable', False)
        super().__init__(message, code=code, **kw)

    @property
    def expected_http_status(self) -> int | None:
        """The HTTP status İYS would answer with for this code."""
        entry = H_CODES.get(self.code or '')
        return entry[0] if entry else None


class IysApiError(IysError):
    """İYS answered with an error about the request itself.

    Resending it unchanged does not help (``retryable`` False), except for the few ``'W'``-class
    codes that are not rate limits, such as H162 (consent date ahead of İYS's clock), which
    succeed unchanged once time has passed (``retryable`` True, ``retry_after`` set).
    """

    default_retryable = False


class IysAuthError(IysError):
    """Credentials refused, OAuth ``invalid_grant``/``invalid_request``, or H351 after re-login."""

    def __init__(self, message: str = '', oauth_error: str | None = None, **kw):
        kw.setdefault('retryable', False)
        self.oauth_error = oauth_error
        super().__init__(message, **kw)


class IysRateLimitError(IysError):
    """HTTP 429 (H083/H124/H086/H089): wait ``retry_after`` seconds and retry."""

    default_retryable = True


class IysTokenLockError(IysRateLimitError):
    """H084: the hourly token limit was hit.  No token call may be made before ``retry_after``.

    Attributes:
        lock_until: epoch seconds until which the token service must not be called.
    """

    def __init__(self, message: str = '', lock_until: float | None = None, **kw):
        kw.setdefault('code', 'H084')
        kw.setdefault('http_status', 429)
        self.lock_until = lock_until
        super().__init__(message, **kw)


class IysServerError(IysError):
    """HTTP 5xx or a transient İYS code (H015, H101, H123, H192 …): retry with back-off."""

    default_retryable = True


class IysTransportError(IysError):
    """No usable answer: timeout, refused or dropped connection, malformed JSON.  Retryable."""

    default_retryable = True

    def __init__(self, message: str = '', **kw):
        kw.setdefault('retry_after', _TRANSPORT_RETRY_AFTER)
        super().__init__(message, **kw)


class IysOutcomeUnknownError(IysTransportError):
    """A non-idempotent request was sent but its outcome is unknown: **do not resend it blindly**.

    Raised for V1 single adds, V1 batches and the other requests that İYS would execute twice
    (retailer creation, access grants, push registration …) when the request left the process but
    no usable answer came back: a read timeout, a dropped connection, a 5xx answer (``code`` and
    ``http_status`` are kept) or an unreadable success answer.  İYS may have recorded it.  Sending
    the same V1 add again would then be refused with H178 (or record a second movement), so the
    error is **not retryable** (``retryable`` False, ``outcome_unknown`` True).

    What to do: query the consent status (:meth:`~iyslib.client.IysClient.get_consent_status`,
    the pull feed or the batch result) and resend only if İYS does not hold the movement, or use
    the idempotent V2 endpoints (the client's default), which the client retries by itself.

    Attributes:
        cause: the underlying transport or server error.
    """

    default_retryable = False

    def __init__(self, message: str = '', cause: IysError | None = None, **kw):
        kw['retryable'] = False
        kw['retry_after'] = None
        kw['outcome_unknown'] = True
        self.cause = cause
        super().__init__(message, **kw)


# ------------------------------------------------------------------------------------------
# Parsing İYS error bodies
# ------------------------------------------------------------------------------------------

def _item_code(item: dict):
    code = item.get('code')
    if code is None:
        code = item.get('code:')  # SPEC examples misspell the key
    return str(code) if code is not None else None


def parse_error_items(body) -> list[dict]:
    """Return the error items of an İYS body as dicts with code/message/location/value/index.

    Accepts ``{"errors": [...]}`` (also a single object instead of the list, as the spec's
    ``InvalidErrorFor422`` schema has it), a bare ``{"code","message"}`` item, a batch result
    ``{"error": {...}}`` and the OAuth shape ``{"error", "error_description"}``.
    """
    if not isinstance(body, dict):
        return []
    items = []
    errs = body.get('errors')
    if isinstance(errs, dict):
        errs = [errs]
    if isinstance(errs, list):
        for it in errs:
            if isinstance(it, dict):
                items.append({'code': _item_code(it), 'message': it.get('message') or '',
                              'location': it.get('location'), 'value': it.get('value'),
                              'index': it.get('index') if isinstance(it.get('index'), int) else None})
        return items
    err = body.get('error')
    if isinstance(err, dict):
        return [{'code': _item_code(err), 'message': err.get('message') or '', 'location': err.get('location'),
                 'value': err.get('value'), 'index': None}]
    if isinstance(err, str):
        return [{'code': None, 'message': body.get('error_description') or err, 'location': None,
                 'value': None, 'index': None, 'oauth_error': err}]
    if _item_code(body):
        return [{'code': _item_code(body), 'message': body.get('message') or '', 'location': body.get('location'),
                 'value': body.get('value'), 'index': None}]
    return []


def _class_for(code: str | None, http_status: int | None, oauth: bool):
    if code == 'H084':
        return IysTokenLockError
    if code in RATE_LIMIT_CODES or (code is None and http_status == 429):
        return IysRateLimitError
    if oauth or code in AUTH_CODES:
        return IysAuthError
    rc = retry_class(code)
    if rc == 'Y' or (http_status is not None and http_status >= 500 and rc != 'N'):
        return IysServerError
    if rc == 'W' and code not in _WAIT_NOT_LIMIT_CODES:
        return IysRateLimitError
    return IysApiError


def _parse_retry_after(headers) -> float | None:
    if not headers:
        return None
    val = None
    for k in headers:
        if str(k).lower() == 'retry-after':
            val = headers[k]
            break
    if val is None:
        return None
    try:
        return max(0.0, float(val))
    except (TypeError, ValueError):
        return None


def error_from_response(http_status: int | None, body, headers=None, now: float | None = None) -> IysError:
    """Build the right :class:`IysError` subclass from an İYS error answer.

    *body* may be parsed JSON, raw ``bytes``/``str`` or ``None``.  *headers* is consulted for
    ``Retry-After``.  *now* (epoch seconds) is used to set ``lock_until`` on H084.
    """
    raw = body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body.decode('utf-8')) if body else None
        except (ValueError, UnicodeDecodeError):
            body = None
    elif isinstance(body, str):
        try:
            body = json.loads(body) if body else None
        except ValueError:
            body = None
    items = parse_error_items(body)
    retry_after = _parse_retry_after(headers)
    if not items:
        text = ''
        if isinstance(raw, (bytes, bytearray)):
            text = raw[:200].decode('utf-8', 'replace')
        elif isinstance(raw, str):
            text = raw[:200]
        msg = f'İYS HTTP {http_status} yanıtı verdi' + (f': {text}' if text else '.')
        if http_status is not None and http_status >= 500:
            return IysServerError(msg, http_status=http_status, retry_after=retry_after)
        if http_status == 429:
            return IysRateLimitError(msg, http_status=http_status, retry_after=retry_after)
        if http_status == 401:
            return IysAuthError(msg, http_status=http_status)
        return IysApiError(msg, http_status=http_status)
    oauth = 'oauth_error' in items[0]
    built = []
    for it in items:
        cls = _class_for(it['code'], http_status, 'oauth_error' in it)
        kw = {'code': it['code'], 'http_status': http_status, 'index': it['index'], 'location': it['location'],
              'value': it['value']}
        if cls is IysTokenLockError:
            # İYS's lock lasts one hour and every call restarts it: a shorter Retry-After (from a proxy or
            # gateway) must never shorten it.
            ra = max(default_retry_after('H084'), retry_after or 0.0)
            kw['retry_after'] = ra
            kw['lock_until'] = (now + ra) if now is not None else None
        elif cls in (IysRateLimitError, IysServerError) and retry_after is not None:
            kw['retry_after'] = retry_after
        if cls is IysAuthError:
            kw['oauth_error'] = it.get('oauth_error')
        built.append(cls(it['message'], **kw))
    main = built[0]
    # A multi-error answer is as retryable as its main error; keep every item reachable.
    main.errors = built
    if oauth and main.code is None:
        main.message = main.message or items[0].get('oauth_error', '')
    return main
