"""Authorization matrix: every view and API endpoint x method x role, in ONE table, each cell with its outcome.

Roles (columns): ``anon`` (nobody), ``self`` (the clinic's patient signed in to the portal), ``other``
(another patient of the same clinic, signed in to the portal), ``nurse``, ``nurse_x`` (a nurse of
another clinic), ``surgeon``, ``admin`` (clinic admin), ``admin_x`` (admin of another clinic),
``token`` / ``token_x`` (API tokens of the clinic / of another clinic; on pages they are nobody).
The records in the URLs are the clinic's patient's (``tests/security/conftest.py``).

Outcomes: a status code, or
  data    200, and the clinic's patient (name, MRN or id) is in the body
  empty   200, and nothing of the clinic's patients is in the body
  login   302 to the staff sign-in page        adm     302 to the Django admin's sign-in page
  portal  302 to the portal's sign-in page     me      302 to the patient's own portal page
  redir   302 anywhere else (a form that worked)
  health  200 or 503 (the public health check, 503 when the broker or the worker is down)

Every cell is one request run in a savepoint that is rolled back, so no cell changes the next.
Every response is also checked for leaks: no role ever sees the name or MRN of a patient it may
not see. ``test_every_url_is_in_the_table`` fails when a URL of the project has no row here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.factories import in_days, pdf_bytes
from tests.questionnaires.test_services import MINIMAL_DECISIONS
from tests.security.conftest import HX, ROLES, World, forbidden_for, leaks, rolled_back

pytestmark = pytest.mark.django_db

# fmt: off
TABLE = """
# name                           method   path                                            anon   self   other  nurse  nurse_x surgeon admin admin_x token  token_x  body
healthz                          GET      /healthz                                        health health health health health health health health health health
healthz                          POST     /healthz                                        405    405    405    405    405    405    405    405    405    405
favicon                          GET      /favicon.ico                                    200    200    200    200    200    200    200    200    200    200
favicon                          POST     /favicon.ico                                    405    405    405    405    405    405    405    405    405    405
admin:index                      GET      /admin/                                         adm    adm    adm    adm    adm    adm    adm    adm    adm    adm
admin:index                      POST     /admin/                                         adm    adm    adm    adm    adm    adm    adm    adm    adm    adm
admin:patients_patient_changelist GET     /admin/patients/patient/                        adm    adm    adm    adm    adm    adm    adm    adm    adm    adm
# --- staff pages (workspace) ---
workspace:board                  GET      /                                               login  login  login  data   empty  redir  data   empty  login  login
workspace:board                  GET      /?view=board                                    login  login  login  data   empty  data   data   empty  login  login
workspace:worklist               GET      /worklist/                                      login  login  login  data   empty  data   data   empty  login  login
workspace:worklist               POST     /worklist/                                      405    405    405    405    405    405    405    405    405    405
workspace:board                  GET      /?q={last_name_part}                            login  login  login  data   empty  data   data   empty  login  login
workspace:board                  GET      /?q={mrn_lower}                                 login  login  login  data   empty  data   data   empty  login  login
workspace:board                  GET      /?surgeon={surgeon_email}                       login  login  login  data   empty  data   data   empty  login  login
workspace:board                  POST     /                                               login  login  login  redir  redir  redir  redir  redir  login  login  search_board
workspace:book                   GET      /book/                                          login  login  login  200    200    200    200    200    login  login
workspace:book                   GET      /book/?q={last_name_part}                       login  login  login  empty  empty  empty  empty  empty  login  login
workspace:book                   GET      /book/?patient={patient}                        login  login  login  data   404    data   data   404    login  login
workspace:book                   POST     /book/                                          login  login  login  redir  redir  redir  redir  redir  login  login  book_new
workspace:book                   POST     /book/                                          login  login  login  redir  redir  redir  redir  redir  login  login  search_book
workspace:book                   POST     /book/                                          login  login  login  redir  404    redir  redir  404    login  login  book_existing
workspace:patient                GET      /patients/{patient}/                            login  login  login  redir  404    redir  redir  404    login  login
workspace:patient                POST     /patients/{patient}/                            405    405    405    405    405    405    405    405    405    405
workspace:patient_edit           GET      /patients/{patient}/edit/                       login  login  login  data   404    data   data   404    login  login
workspace:patient_edit           POST     /patients/{patient}/edit/                       login  login  login  redir  404    redir  redir  404    login  login  patient_edit
workspace:patient_edit           PUT      /patients/{patient}/edit/                       405    405    405    405    405    405    405    405    405    405
workspace:medication_add         GET      /patients/{patient}/medications/add/            login  login  login  data   404    data   data   404    login  login
workspace:medication_add         POST     /patients/{patient}/medications/add/            login  login  login  redir  404    redir  redir  404    login  login  med_add
workspace:medication_stop        GET      /patients/{patient}/medications/{medication}/stop/ login login login data  404    data   data   404    login  login
workspace:medication_stop        POST     /patients/{patient}/medications/{medication}/stop/ login login login redir 404    redir  redir  404    login  login
# parents and guardians (issue 22): through the permission-checked patient; another clinic's is a 404
workspace:guardian_add           GET      /patients/{patient}/guardians/add/              login  login  login  data   404    data   data   404    login  login
workspace:guardian_add           POST     /patients/{patient}/guardians/add/              login  login  login  redir  404    redir  redir  404    login  login  guardian
workspace:guardian_add           PUT      /patients/{patient}/guardians/add/              405    405    405    405    405    405    405    405    405    405
workspace:guardian_edit          GET      /patients/{patient}/guardians/{guardian}/edit/  login  login  login  data   404    data   data   404    login  login
workspace:guardian_edit          POST     /patients/{patient}/guardians/{guardian}/edit/  login  login  login  redir  404    redir  redir  404    login  login  guardian
workspace:surgery                GET      /surgeries/{surgery}/                           login  login  login  data   404    data   data   404    login  login
workspace:surgery                POST     /surgeries/{surgery}/                           405    405    405    405    405    405    405    405    405    405
workspace:surgery_print          GET      /surgeries/{surgery}/print/                     login  login  login  data   404    data   data   404    login  login
workspace:surgery_print          POST     /surgeries/{surgery}/print/                     405    405    405    405    405    405    405    405    405    405
workspace:surgery_edit           GET      /surgeries/{surgery}/edit/                      login  login  login  data   404    data   data   404    login  login
workspace:surgery_edit           POST     /surgeries/{surgery}/edit/                      login  login  login  redir  404    redir  redir  404    login  login  edit
workspace:surgery_cancel         GET      /surgeries/{surgery}/cancel/                    login  login  login  data   404    data   data   404    login  login
workspace:surgery_cancel         POST     /surgeries/{surgery}/cancel/                    login  login  login  redir  404    redir  redir  404    login  login  cancel
workspace:go_decision            GET      /surgeries/{surgery}/go/                        405    405    405    405    405    405    405    405    405    405
workspace:go_decision            POST     /surgeries/{surgery}/go/                        login  login  login  403    404    redir  403    404    login  login  go
workspace:note_add               GET      /surgeries/{surgery}/notes/                     405    405    405    405    405    405    405    405    405    405
workspace:note_add               POST     /surgeries/{surgery}/notes/                     login  login  login  redir  404    redir  redir  404    login  login  note
workspace:questionnaire          GET      /surgeries/{surgery}/questionnaire/             login  login  login  data   404    data   data   404    login  login
workspace:questionnaire          POST     /surgeries/{surgery}/questionnaire/             login  login  login  redir  404    redir  redir  404    login  login  reconcile
workspace:item_complete          GET      /items/{item_hb}/complete/                      405    405    405    405    405    405    405    405    405    405
workspace:item_complete          POST     /items/{item_hb}/complete/                      login  login  login  redir  404    redir  redir  404    login  login  complete
workspace:item_complete          POST+hx  /items/{item_hb}/complete/                      login  login  login  200    404    200    200    404    login  login  complete
workspace:item_not_applicable    GET      /items/{item_ecg}/not-applicable/               405    405    405    405    405    405    405    405    405    405
workspace:item_not_applicable    POST     /items/{item_ecg}/not-applicable/               login  login  login  redir  404    redir  redir  404    login  login  na
workspace:item_not_applicable    POST+hx  /items/{item_ecg}/not-applicable/               login  login  login  200    404    200    200    404    login  login  na
workspace:item_undo              GET      /items/{item_done}/undo/                        405    405    405    405    405    405    405    405    405    405
workspace:item_undo              POST     /items/{item_done}/undo/                        login  login  login  redir  404    redir  redir  404    login  login  undo
workspace:item_undo              POST+hx  /items/{item_done}/undo/                        login  login  login  200    404    200    200    404    login  login  undo
workspace:item_accept            GET      /items/{item_confirmed}/accept/                 405    405    405    405    405    405    405    405    405    405
workspace:item_accept            POST     /items/{item_confirmed}/accept/                 login  login  login  redir  404    redir  redir  404    login  login  accept
workspace:item_accept            POST+hx  /items/{item_confirmed}/accept/                 login  login  login  200    404    200    200    404    login  login  accept
workspace:hold_decide            GET      /items/{item_hold}/hold/                        405    405    405    405    405    405    405    405    405    405
workspace:hold_decide            POST     /items/{item_hold}/hold/                        login  login  login  403    404    redir  403    404    login  login  hold
workspace:hold_decide            POST+hx  /items/{item_hold}/hold/                        login  login  login  403    404    200    403    404    login  login  hold
workspace:item_history           GET      /items/{item_done}/history/                     login  login  login  data   404    data   data   404    login  login
workspace:item_history           GET+hx   /items/{item_done}/history/                     login  login  login  200    404    200    200    404    login  login
workspace:item_history           POST     /items/{item_done}/history/                     405    405    405    405    405    405    405    405    405    405
workspace:document_upload        GET      /items/{item_ecg}/documents/                    405    405    405    405    405    405    405    405    405    405
workspace:document_upload        POST     /items/{item_ecg}/documents/                    login  login  login  redir  404    redir  redir  404    login  login  upload
workspace:document_upload        POST+hx  /items/{item_ecg}/documents/                    login  login  login  200    404    200    200    404    login  login  upload
workspace:document_download      GET      /documents/{document}/                          login  login  login  200    404    200    200    404    login  login
workspace:document_download      POST     /documents/{document}/                          405    405    405    405    405    405    405    405    405    405
# --- the clinic dashboard (clinic admins and lead nurses): figures only, always the user's own clinic ---
workspace:dashboard              GET      /dashboard/                                     login  login  login  403    403    403    empty  empty  login  login
workspace:dashboard              GET      /dashboard/?start=2026-01-05&end=2026-03-29     login  login  login  403    403    403    empty  empty  login  login
workspace:dashboard              GET      /dashboard/?surgeon={surgeon_email}             login  login  login  403    403    403    empty  400    login  login
workspace:dashboard              POST     /dashboard/                                     405    405    405    405    405    405    405    405    405    405
workspace:dashboard_csv          GET      /dashboard/readiness.csv                        login  login  login  403    403    403    empty  empty  login  login
workspace:dashboard_csv          GET      /dashboard/items.csv                            login  login  login  403    403    403    empty  empty  login  login
workspace:dashboard_csv          GET      /dashboard/cancellations.csv?surgeon={surgeon_email} login login login 403 403   403    empty  400    login  login
workspace:dashboard_csv          POST     /dashboard/reminders.csv                        405    405    405    405    405    405    405    405    405    405
workspace:dashboard_css          GET      /dashboard/charts.css                           200    200    200    200    200    200    200    200    200    200
workspace:dashboard_css          POST     /dashboard/charts.css                           405    405    405    405    405    405    405    405    405    405
# --- the results review queue (staff pages; another clinic's message is a 404) ---
workspace:inbox                  GET      /inbox/                                         login  login  login  data   empty  data   data   empty  login  login
workspace:inbox                  POST     /inbox/                                         405    405    405    405    405    405    405    405    405    405
workspace:inbox_message          GET      /inbox/{inbox_msg}/                             login  login  login  data   404    data   data   404    login  login
workspace:inbox_message          POST     /inbox/{inbox_msg}/                             405    405    405    405    405    405    405    405    405    405
workspace:inbox_dismiss          GET      /inbox/{inbox_msg}/dismiss/                     405    405    405    405    405    405    405    405    405    405
workspace:inbox_dismiss          POST     /inbox/{inbox_msg}/dismiss/                     login  login  login  redir  404    redir  redir  404    login  login  inbox_dismiss
workspace:inbox_match            GET      /inbox/{inbox_msg}/match/                       405    405    405    405    405    405    405    405    405    405
workspace:inbox_match            POST     /inbox/{inbox_msg}/match/                       login  login  login  redir  404    redir  redir  404    login  login  inbox_match
workspace:inbox_complete         GET      /inbox/{inbox_msg}/complete/                    405    405    405    405    405    405    405    405    405    405
workspace:inbox_complete         POST     /inbox/{inbox_msg}/complete/                    login  login  login  redir  404    redir  redir  404    login  login  inbox_complete
# --- staff accounts ---
accounts:login                   GET      /accounts/login/                                200    200    200    redir  redir  redir  redir  redir  200    200
accounts:login                   POST     /accounts/login/                                200    200    200    redir  redir  redir  redir  redir  200    200    login_empty
accounts:login                   PUT      /accounts/login/                                200    200    200    redir  redir  redir  redir  redir  200    200
accounts:logout                  GET      /accounts/logout/                               405    405    405    405    405    405    405    405    405    405
accounts:logout                  POST     /accounts/logout/                               login  login  login  login  login  login  login  login  login  login
accounts:two_factor_verify       GET      /accounts/2fa/                                  login  login  login  200    200    200    200    200    login  login
accounts:two_factor_verify       POST     /accounts/2fa/                                  login  login  login  200    200    200    200    200    login  login  code
accounts:two_factor_setup        GET      /accounts/2fa/setup/                            login  login  login  200    200    200    200    200    login  login
accounts:two_factor_setup        POST     /accounts/2fa/setup/                            login  login  login  200    200    200    200    200    login  login  code
# --- access log (clinic admins) ---
audit:access_log                 GET      /audit/                                         login  login  login  404    404    404    data   empty  login  login
audit:access_log                 GET      /audit/?patient={mrn_lower}                     login  login  login  404    404    404    data   empty  login  login
audit:access_log                 POST     /audit/                                         login  login  login  404    404    404    redir  redir  login  login  search_log
# --- reminders: the outbox (clinic admins) and Twilio's signed webhooks ---
reminders:outbox                 GET      /reminders/outbox/                              login  login  login  404    404    404    200    empty  login  login
reminders:outbox                 POST     /reminders/outbox/                              405    405    405    405    405    405    405    405    405    405
reminders:twilio-status          GET      /reminders/twilio/status/                       405    405    405    405    405    405    405    405    405    405
reminders:twilio-status          POST     /reminders/twilio/status/                       403    403    403    403    403    403    403    403    403    403    twilio
reminders:twilio-inbound         GET      /reminders/twilio/inbound/                      405    405    405    405    405    405    405    405    405    405
reminders:twilio-inbound         POST     /reminders/twilio/inbound/                      403    403    403    403    403    403    403    403    403    403    twilio
# one-click unsubscribe (RFC 8058): the token in the URL is the authorization; an altered one is a 400
reminders:unsubscribe            GET      /reminders/unsubscribe/not-a-token/             400    400    400    400    400    400    400    400    400    400
reminders:unsubscribe            POST     /reminders/unsubscribe/not-a-token/             400    400    400    400    400    400    400    400    400    400
# monitoring: only with the METRICS_TOKEN bearer (none configured here: a 404 for everyone)
reminders:metrics                GET      /reminders/metrics/                             404    404    404    404    404    404    404    404    404    404
reminders:metrics                POST     /reminders/metrics/                             405    405    405    405    405    405    405    405    405    405
# --- patient portal ---
portal:start                     GET      /p/                                             200    me     me     200    200    200    200    200    200    200
portal:start                     POST     /p/                                             redir  me     me     redir  redir  redir  redir  redir  redir  redir  contact
portal:sent                      GET      /p/sent/                                        200    200    200    200    200    200    200    200    200    200
portal:sent                      POST     /p/sent/                                        405    405    405    405    405    405    405    405    405    405
portal:verify                    GET      /p/in/verify                                    400    400    400    400    400    400    400    400    400    400
portal:verify                    POST     /p/in/verify                                    400    400    400    400    400    400    400    400    400    400    dob
portal:link_open                 GET      /p/in/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA   redir  redir  redir  redir  redir  redir  redir  redir  redir  redir
portal:link_open                 POST     /p/in/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA   405    405    405    405    405    405    405    405    405    405
portal:sign_out                  GET      /p/out/                                         405    405    405    405    405    405    405    405    405    405
portal:sign_out                  POST     /p/out/                                         portal portal portal portal portal portal portal portal portal portal
portal:language                  GET      /p/language/                                    405    405    405    405    405    405    405    405    405    405
portal:language                  POST     /p/language/                                    portal me     me     portal portal portal portal portal portal portal language
portal:me                        GET      /p/me/                                          portal data   200    portal portal portal portal portal portal portal
portal:me                        POST     /p/me/                                          405    405    405    405    405    405    405    405    405    405
portal:item_confirm              GET      /p/me/items/{item_portal}/confirm/              portal 200    404    portal portal portal portal portal portal portal
portal:item_confirm              POST     /p/me/items/{item_portal}/confirm/              portal me     404    portal portal portal portal portal portal portal ride
portal:calendar                  GET      /p/me/calendar.ics                              portal 200    200    portal portal portal portal portal portal portal
portal:calendar                  POST     /p/me/calendar.ics                              405    405    405    405    405    405    405    405    405    405
portal:messages                  GET      /p/me/messages/                                 portal 200    200    portal portal portal portal portal portal portal
portal:messages                  POST     /p/me/messages/                                 portal redir  redir  portal portal portal portal portal portal portal channels
portal:sms_stop                  GET      /p/me/messages/stop-sms/                        405    405    405    405    405    405    405    405    405    405
portal:sms_stop                  POST     /p/me/messages/stop-sms/                        portal redir  redir  portal portal portal portal portal portal portal
# the health questionnaire (issue 20): the signed-in patient's own booking only
portal:questionnaire             GET      /p/me/health/                                   portal 200    200    portal portal portal portal portal portal portal
portal:questionnaire             POST     /p/me/health/                                   405    405    405    405    405    405    405    405    405    405
portal:questionnaire_section     GET      /p/me/health/medicines/                         portal 200    200    portal portal portal portal portal portal portal
portal:questionnaire_section     POST     /p/me/health/allergies/                         portal redir  redir  portal portal portal portal portal portal portal q_allergies
portal:questionnaire_send        GET      /p/me/health/send/                              405    405    405    405    405    405    405    405    405    405
portal:questionnaire_send        POST     /p/me/health/send/                              portal redir  redir  portal portal portal portal portal portal portal
portal:staff_send                GET      /p/staff/send/{patient}/                        405    405    405    405    405    405    405    405    405    405
portal:staff_send                POST     /p/staff/send/{patient}/                        login  login  login  redir  404    redir  redir  404    login  login  staff_send
# --- REST API (staff sessions or tokens) ---
api:schema                       GET      /api/v1/schema/                                 200    200    200    200    200    200    200    200    200    200
api:schema                       POST     /api/v1/schema/                                 405    405    405    405    405    405    405    405    405    405
api:docs                         GET      /api/v1/docs/                                   200    200    200    200    200    200    200    200    200    200
api:docs                         POST     /api/v1/docs/                                   405    405    405    405    405    405    405    405    405    405
api:patients                     GET      /api/v1/patients/                               401    401    401    data   empty  data   data   empty  data   empty
api:patients                     GET      /api/v1/patients/?mrn={mrn}                     401    401    401    400    400    400    400    400    400    400
api:patient-search               GET      /api/v1/patients/search/                        401    401    401    405    405    405    405    405    405    405
api:patient-search               POST     /api/v1/patients/search/                        401    401    401    data   empty  data   data   empty  data   empty  api_search
api:patients                     POST     /api/v1/patients/                               401    401    401    201    201    201    201    201    201    201    api_patient
api:patient                      GET      /api/v1/patients/{patient}/                     401    401    401    data   404    data   data   404    data   404
api:patient                      PATCH    /api/v1/patients/{patient}/                     401    401    401    200    404    200    200    404    200    404    api_patient_patch
api:patient                      POST     /api/v1/patients/{patient}/                     401    401    401    405    405    405    405    405    405    405
api:medications                  GET      /api/v1/patients/{patient}/medications/         401    401    401    200    404    200    200    404    200    404
api:medications                  POST     /api/v1/patients/{patient}/medications/         401    401    401    201    404    201    201    404    201    404    api_medication
api:guardians                    GET      /api/v1/patients/{patient}/guardians/           401    401    401    200    404    200    200    404    200    404
api:guardians                    POST     /api/v1/patients/{patient}/guardians/           401    401    401    201    404    201    201    404    201    404    api_guardian
api:guardian                     GET      /api/v1/patients/{patient}/guardians/{guardian}/ 401   401    401    200    404    200    200    404    200    404
api:guardian                     PATCH    /api/v1/patients/{patient}/guardians/{guardian}/ 401   401    401    200    404    200    200    404    200    404    api_guardian_patch
api:guardian                     POST     /api/v1/patients/{patient}/guardians/{guardian}/ 401   401    401    405    405    405    405    405    405    405
api:medication-stop              GET      /api/v1/patients/{patient}/medications/{medication}/stop/ 401 401 401 405  405    405    405    405    405    405
api:medication-stop              POST     /api/v1/patients/{patient}/medications/{medication}/stop/ 401 401 401 200  404    200    200    404    200    404
api:surgeries                    GET      /api/v1/surgeries/                              401    401    401    data   empty  data   data   empty  data   empty
api:surgeries                    GET      /api/v1/surgeries/?patient={patient}            401    401    401    data   404    data   data   404    data   404
api:surgeries                    POST     /api/v1/surgeries/                              401    401    401    201    400    201    201    400    201    400    api_booking
api:surgery                      GET      /api/v1/surgeries/{surgery}/                    401    401    401    data   404    data   data   404    data   404
api:surgery                      PATCH    /api/v1/surgeries/{surgery}/                    401    401    401    200    404    200    200    404    200    404    api_reschedule
api:surgery                      POST     /api/v1/surgeries/{surgery}/                    401    401    401    405    405    405    405    405    405    405
api:surgery-cancel               GET      /api/v1/surgeries/{surgery}/cancel/             401    401    401    405    405    405    405    405    405    405
api:surgery-cancel               POST     /api/v1/surgeries/{surgery}/cancel/             401    401    401    200    404    200    200    404    200    404    cancel
api:surgery-checklist            GET      /api/v1/surgeries/{surgery}/checklist/          401    401    401    200    404    200    200    404    200    404
api:surgery-checklist            POST     /api/v1/surgeries/{surgery}/checklist/          401    401    401    405    405    405    405    405    405    405
api:surgery-reminders            GET      /api/v1/surgeries/{surgery}/reminders/          401    401    401    200    404    200    200    404    200    404
api:surgery-reminders            POST     /api/v1/surgeries/{surgery}/reminders/          401    401    401    405    405    405    405    405    405    405
api:surgery-questionnaires       GET      /api/v1/surgeries/{surgery}/questionnaires/     401    401    401    200    404    200    200    404    200    404
api:surgery-questionnaires       POST     /api/v1/surgeries/{surgery}/questionnaires/     401    401    401    405    405    405    405    405    405    405
api:item                         GET      /api/v1/items/{item_hb}/                        401    401    401    200    404    200    200    404    200    404
api:item                         POST     /api/v1/items/{item_hb}/                        401    401    401    405    405    405    405    405    405    405
api:item-complete                GET      /api/v1/items/{item_hb}/complete/               401    401    401    405    405    405    405    405    405    405
api:item-complete                POST     /api/v1/items/{item_hb}/complete/               401    401    401    200    404    200    200    404    200    404    api_complete
api:item-not-applicable          GET      /api/v1/items/{item_ecg}/not-applicable/        401    401    401    405    405    405    405    405    405    405
api:item-not-applicable          POST     /api/v1/items/{item_ecg}/not-applicable/        401    401    401    200    404    200    200    404    200    404    na
api:readiness                    GET      /api/v1/readiness/                              401    401    401    data   empty  data   data   empty  data   empty
api:readiness                    POST     /api/v1/readiness/                              401    401    401    405    405    405    405    405    405    405
api:procedures                   GET      /api/v1/procedures/                             401    401    401    200    200    200    200    200    200    200
api:procedures                   POST     /api/v1/procedures/                             401    401    401    405    405    405    405    405    405    405
api:export-board                 GET      /api/v1/exports/board.csv                       401    401    401    data   empty  data   data   empty  data   empty
api:export-board                 POST     /api/v1/exports/board.csv                       401    401    401    405    405    405    405    405    405    405
api:tokens                       GET      /api/v1/tokens/                                 401    401    401    403    403    403    200    200    403    403
api:tokens                       POST     /api/v1/tokens/                                 401    401    401    403    403    403    201    201    403    403    api_token
api:token-revoke                 GET      /api/v1/tokens/{spare_token}/revoke/            401    401    401    403    403    403    405    405    403    403
api:token-revoke                 POST     /api/v1/tokens/{spare_token}/revoke/            401    401    401    403    403    403    200    404    403    403
# --- FHIR export ---
fhir:metadata                    GET      /fhir/metadata                                  200    200    200    200    200    200    200    200    200    200
fhir:metadata                    POST     /fhir/metadata                                  405    405    405    405    405    405    405    405    405    405
fhir:plandefinition              GET      /fhir/PlanDefinition/{template}                 401    401    401    200    200    200    200    200    200    200
fhir:plandefinition              POST     /fhir/PlanDefinition/{template}                 401    401    401    405    405    405    405    405    405    405
fhir:questionnaire               GET      /fhir/Questionnaire/preop-health                401    401    401    200    200    200    200    200    200    200
fhir:questionnaire               POST     /fhir/Questionnaire/preop-health                401    401    401    405    405    405    405    405    405    405
fhir:patient-preop               GET      /fhir/Patient/{patient}/$preop                  401    401    401    data   404    data   data   404    data   404
fhir:patient-preop               POST     /fhir/Patient/{patient}/$preop                  401    401    401    405    405    405    405    405    405    405
# --- FHIR results in: clinic tokens only (a system sends results); another clinic's patient is unknown (422) ---
fhir:observation-create          GET      /fhir/Observation                               401    401    401    403    403    403    403    403    405    405
fhir:observation-create          POST     /fhir/Observation                               401    401    401    403    403    403    403    403    201    422    fhir_obs
fhir:diagnosticreport-create     GET      /fhir/DiagnosticReport                          401    401    401    403    403    403    403    403    405    405
fhir:diagnosticreport-create     POST     /fhir/DiagnosticReport                          401    401    401    403    403    403    403    403    201    422    fhir_report
fhir:transaction                 GET      /fhir/                                          401    401    401    403    403    403    403    403    405    405
fhir:transaction                 POST     /fhir/                                          401    401    401    403    403    403    403    403    200    200    fhir_bundle
"""
# fmt: on

FLOOR = 1200  # cells; the table only grows


def _booking_surgery(v: dict[str, str]) -> dict[str, str]:
    day = in_days(20).date().isoformat()
    return {
        "surgery-procedure": "lumbar-facet-rf",
        "surgery-start_date": day,
        "surgery-start_time": "09:00",
        "surgery-anaesthesia": "",
        "surgery-surgeon": "",
        "surgery-place": "Room 2",
        "surgery-level": "L5-S1",
        "surgery-side": "left",
        "med-TOTAL_FORMS": "0",
        "med-INITIAL_FORMS": "0",
        "med-MIN_NUM_FORMS": "0",
        "med-MAX_NUM_FORMS": "10",
        "action": "save",
    }


def _fhir_obs(v: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:matrix", "value": "hb-1"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": f"Patient/{v['patient']}"},
        "valueQuantity": {"value": 13.1, "unit": "g/dL"},
    }


def _new_patient(v: dict[str, str]) -> dict[str, str]:
    return {
        "patient-mrn": "MRN-NEW-1",
        "patient-first_name": "Newt",
        "patient-last_name": "Booker",
        "patient-birth_date": "1960-01-02",
        "patient-sex": "male",
        "patient-language": "en",
        "patient-email": "",
        "patient-mobile": "",
        "patient-allergies": "",
        **_booking_surgery(v),
    }


BODIES: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "book_new": _new_patient,
    "book_existing": lambda v: {"patient": v["patient"], **_booking_surgery(v)},
    "med_add": lambda v: {"drug": "", "name": "ibuprofen", "indication": "", "dose": "200 mg", "action": "confirm"},
    "patient_edit": lambda v: {
        "mrn": v["mrn"],
        "first_name": "Matrix",
        "last_name": "Edited",
        "birth_date": "1960-01-02",
        "sex": "female",
        "language": "en",
        "email": "",
        "mobile": "",
        "allergies": "",
        "seen": v["patient_version"],
    },
    "edit": lambda v: {
        "procedure": "lumbar-facet-rf",
        "start_date": in_days(14).date().isoformat(),
        "start_time": "09:30",
        "anaesthesia": "",
        "surgeon": "",
        "place": "Room 4",
        "level": "L4-L5",
        "side": "left",
        "action": "confirm",
    },
    "cancel": lambda v: {"reason_code": "patient_request", "reason": "patient asked"},
    "go": lambda v: {"decision": "go", "note": "", "override": "Decided with the anaesthetist"},
    "search_board": lambda v: {"q": v["last_name_part"]},
    "api_search": lambda v: {"mrn": v["mrn"]},
    "search_book": lambda v: {"action": "search", "q": v["last_name_part"]},
    "search_log": lambda v: {"patient": v["mrn_lower"]},
    "note": lambda v: {"kind": "call", "outcome": "reached", "text": "Talked about the fasting."},
    "complete": lambda v: {"result": "13.1", "version": v["hb_version"]},
    "na": lambda v: {"reason": "done elsewhere", "version": v["ecg_version"]},
    "undo": lambda v: {"reason": "wrong patient chart", "version": v["done_version"]},
    "accept": lambda v: {"version": v["confirmed_version"]},
    "hold": lambda v: {"decision": "approve", "hold_days": "7", "note": "ok", "version": v["hold_version"]},
    "login_empty": lambda v: {"username": "", "password": ""},
    "code": lambda v: {"code": "000000"},
    "twilio": lambda v: {"MessageSid": "SM123", "MessageStatus": "delivered", "From": "+13105550142", "Body": "STOP"},
    "contact": lambda v: {"contact": "someone@example.org"},
    "dob": lambda v: {"day": "1", "month": "1", "year": "1950"},
    "language": lambda v: {"language": "es"},
    "ride": lambda v: {"ride_arranged": "on"},
    "channels": lambda v: {"email": "on"},
    "reconcile": lambda v: dict(MINIMAL_DECISIONS),
    "q_allergies": lambda v: {
        "allergy_medicines": "",
        "allergy_latex": "no",
        "allergy_contrast": "no",
        "anaesthesia_problems": "no",
        "then": "next",
    },
    "staff_send": lambda v: {"channel": "email"},
    "guardian": lambda v: {
        "first_name": "Matrix",
        "last_name": "Keeper",
        "relationship": "legal_guardian",
        "birth_year": "1970",
        "language": "en",
        "email": "keeper@example.org",
        "mobile": "",
        "channel_email": "on",
        "receives_messages": "on",
    },
    "api_patient": lambda v: {
        "mrn": "API-NEW-1",
        "first_name": "Ada",
        "last_name": "Apiford",
        "birth_date": "1970-01-01",
    },
    "api_patient_patch": lambda v: {"allergies": "latex"},
    "api_medication": lambda v: {"name": "ibuprofen"},
    "api_guardian": lambda v: {
        "first_name": "Matrix",
        "last_name": "Keeper",
        "relationship": "legal_guardian",
        "birth_year": 1970,
        "email": "keeper@example.org",
    },
    "api_guardian_patch": lambda v: {"language": "es"},
    "api_booking": lambda v: {
        "patient": v["patient"],
        "procedure": "lumbar-facet-rf",
        "start_at": in_days(15).isoformat(),
    },
    "api_reschedule": lambda v: {"start_at": in_days(16).isoformat()},
    "api_complete": lambda v: {"result": "13.1"},
    "api_token": lambda v: {"name": "matrix"},
    "upload": lambda v: {"file": SimpleUploadedFile("ecg-matrix.pdf", pdf_bytes("matrix"), "application/pdf")},
    "inbox_dismiss": lambda v: {"reason": "a test run of the lab"},
    "inbox_match": lambda v: {"mrn": v["mrn"]},
    "inbox_complete": lambda v: {"index": "0", "item": v["item_hb"]},
    "fhir_obs": lambda v: _fhir_obs(v),
    "fhir_report": lambda v: {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "urn:matrix", "value": "ecg-1"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6"}]},
        "subject": {"reference": f"Patient/{v['patient']}"},
        "conclusion": "Sinus rhythm",
    },
    # A lab names the patient by MRN (a filter: another clinic's MRN is an unknown patient, in a 200
    # transaction-response whose entry says 422).
    "fhir_bundle": lambda v: {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**_fhir_obs(v), "subject": {"identifier": {"value": v["mrn"]}}},
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    },
}

# Placeholders naming a record (a swapped id must be refused) and those feeding a filter (it must find nothing).
OBJECTS = (
    "patient",
    "surgery",
    "medication",
    "item_hb",
    "item_ecg",
    "item_done",
    "item_confirmed",
    "item_hold",
    "item_portal",
    "spare_token",
    "document",
    "inbox_msg",
    "guardian",
)
FILTERS = ("mrn", "mrn_lower", "last_name_part", "surgeon_email")
SUCCESS = {"data", "empty", "redir", "me", "200", "201"}
# Pages whose filters are choices of the clinic's own values: another clinic's value is refused (400).
FILTER_CHOICES = {"workspace:dashboard", "workspace:dashboard_csv"}


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    expected: dict[str, str]
    body: str = ""

    @property
    def hx(self) -> bool:
        return self.method.endswith("+hx")

    @property
    def verb(self) -> str:
        return self.method.split("+")[0].lower()

    @property
    def is_api(self) -> bool:
        return self.path.startswith(("/api/", "/fhir/"))

    def keys(self, values: dict[str, str]) -> set[str]:
        """The placeholders used by the path and the body."""
        used = set(re.findall(r"{(\w+)}", self.path))
        if self.body:
            probe = {k: f"@@{k}@@" for k in values}
            # default=str: an uploaded file in a body names no record
            used |= set(re.findall(r"@@(\w+)@@", json.dumps(BODIES[self.body](probe), default=str)))
        return used

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.name}{', ' + self.body if self.body else ''})"


def parse(table: str) -> list[Row]:
    rows = []
    for line in table.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        name, method, path, outcomes = parts[0], parts[1], parts[2], parts[3 : 3 + len(ROLES)]
        body = parts[3 + len(ROLES)] if len(parts) > 3 + len(ROLES) else ""
        assert len(outcomes) == len(ROLES), f"row needs {len(ROLES)} outcomes: {line}"
        assert not body or body in BODIES, f"unknown body {body!r}: {line}"
        rows.append(Row(name, method, path, dict(zip(ROLES, outcomes, strict=True)), body))
    return rows


ROWS = parse(TABLE)


def send(client, row: Row, values: dict[str, str]):
    path = row.path.format(**values)
    extra = dict(HX) if row.hx else {}
    data = BODIES[row.body](values) if row.body else None
    if row.is_api and row.verb != "get":
        return getattr(client, row.verb)(path, json.dumps(data or {}), content_type="application/json", **extra)
    if row.verb == "patch":
        return client.patch(path, data or {}, content_type="application/json", **extra)
    return getattr(client, row.verb)(path, data or {}, **extra)


def body_of(response) -> bytes:
    """The body, also of a streamed file (a document download), read once and kept."""
    if not getattr(response, "streaming", False):
        return response.content
    if not hasattr(response, "matrix_body"):
        response.matrix_body = b"".join(response.streaming_content)
    return response.matrix_body


def judge(want: str, response, shows: tuple[str, ...]) -> bool:
    """Does ``response`` match the outcome ``want``? ``shows``: what of the clinic's patient 'data' must show."""
    code = response.status_code
    location = response.get("Location", "")
    body = body_of(response).decode(errors="replace")
    if want == "data":
        return code == 200 and any(s in body for s in shows)
    if want == "empty":
        return code == 200 and not any(s in body for s in shows)
    if want == "health":
        return code in (200, 503)  # public either way; 503 when the broker or the worker is down
    redirects = {
        "login": lambda u: u.startswith("/accounts/login/"),
        "adm": lambda u: u.startswith("/admin/login/"),
        "portal": lambda u: u == "/p/",
        "me": lambda u: u == "/p/me/",
        "redir": lambda u: not u.startswith(("/accounts/login/", "/admin/login/")) and u != "/p/",
    }
    if want in redirects:
        return code in (301, 302, 303) and redirects[want](location)
    return code == int(want)


def describe(response) -> str:
    location = response.get("Location", "")
    return f"{response.status_code}{' -> ' + location if location else ''}"


def run_cell(world: World, row: Row, role: str, values: dict[str, str], want: str) -> list[str]:
    """One request in a rolled-back savepoint; returns what was wrong with it (nothing: all good)."""
    client = world.client(role)
    patient = world.home.patient
    shows = (patient.last_name, patient.first_name, patient.mrn, str(patient.uuid))
    problems = []
    with rolled_back(client):
        try:
            response = send(client, row, values)
        except Exception as exc:  # a view that raises would be a 500 in production
            return [f"{role:8} {row}: expected {want}, raised {type(exc).__name__}: {exc}"]
        if not judge(want, response, shows):
            problems.append(f"{role:8} {row}: expected {want}, got {describe(response)}")
        leaked = leaks(body_of(response), forbidden_for(world, role))
        if leaked:
            problems.append(f"{role:8} {row}: LEAK of {leaked}")
    return problems


def test_matrix(world, capsys):
    """Every cell of the table; all mismatches listed at once."""
    values = world.home.ids
    problems = []
    cells = 0
    for row in ROWS:
        for role in ROLES:
            problems += run_cell(world, row, role, values, row.expected[role])
            cells += 1
    with capsys.disabled():
        print(f"\nAuthorization matrix: {len(ROWS)} rows x {len(ROLES)} roles = {cells} cells, {len(problems)} wrong")
    assert cells >= FLOOR
    assert not problems, f"{len(problems)} of {cells} cells are wrong:\n" + "\n".join(problems)


# --- Ids swapped across patients and clinics --------------------------------------------------------

SWAP_ROLES = ("self", "other", "nurse", "surgeon", "admin", "token")


# Rows whose 403 is the role's, decided before any record is looked up (the same with any id).
ROLE_ONLY_403 = {"fhir:observation-create", "fhir:diagnosticreport-create", "fhir:transaction"}


def swapped_expectation(row: Row, role: str, swapped: set[str]) -> str | None:
    want = row.expected[role]
    if want == "403" and row.name in ROLE_ONLY_403:
        return want
    if want == "403" and swapped & (set(OBJECTS) - {"spare_token"}):
        # Another clinic's patient record: 404 before the role is even looked at. (Managing tokens is
        # refused by role, whatever the id: a 403 that tells nothing about the token.)
        return "refused"
    if want not in SUCCESS:
        return want  # refused anyway (wrong method, wrong kind of user): the same with any id
    if swapped & set(OBJECTS):
        return "refused"
    if swapped & set(FILTERS) and row.name in FILTER_CHOICES:
        # A filter offered as a list of the clinic's own (the dashboard's surgeon): another clinic's is not a
        # choice, a 400 that names the field, whatever the role.
        return "400"
    if swapped & set(FILTERS):
        # The filter runs, and finds nothing of the other clinic (the leak check says so); a posted search
        # answers with the redirect to its opaque key, as with any term.
        return "redir" if want == "redir" else "200"
    return None


def test_swapped_ids_leak_nothing(world):
    """The clinic's staff, tokens and patients with the other clinic's ids, one id at a time and all at once:
    detail pages, lists, filters, exports, FHIR and htmx fragments answer 404 (400 for a booking body naming
    another clinic's patient) or show nothing, and never the other clinic's patient."""
    home, away = world.home.ids, world.away.ids
    swaps = [set(OBJECTS) | set(FILTERS)] + [{key} for key in OBJECTS]
    problems, cells = [], 0
    for swapped in swaps:
        values = {**home, **{k: away[k] for k in swapped}}
        for row in ROWS:
            used = row.keys(values)
            if not used & swapped:
                continue
            for role in SWAP_ROLES:
                want = swapped_expectation(row, role, used & swapped)
                if want is None:
                    continue
                cells += 1
                if want != "refused":
                    problems += run_cell(world, row, role, values, want)
                    continue
                client = world.client(role)
                with rolled_back(client):
                    response = send(client, row, values)
                    # 422: a posted FHIR result naming another clinic's patient is an unknown patient.
                    if response.status_code not in (400, 404, 422):
                        problems.append(
                            f"{role:8} {row} with {sorted(used & swapped)} swapped: expected 404, "
                            f"got {describe(response)}"
                        )
                    leaked = leaks(body_of(response), forbidden_for(world, role))
                    if leaked:
                        problems.append(f"{role:8} {row} with {sorted(used & swapped)} swapped: LEAK of {leaked}")
    print(f"\nswapped-id requests: {cells}")
    assert cells > 300
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_portal_patients_cannot_reach_each_other(world):
    """Patient to patient in the same clinic: the other's items are a 404 and nothing of them shows."""
    other_item = world.home.other_patient.surgeries.get().checklist.items.get(code="arrival")
    client = world.client("self")
    for method, path in (
        ("get", f"/p/me/items/{other_item.uuid}/confirm/"),
        ("post", f"/p/me/items/{other_item.uuid}/confirm/"),
    ):
        with rolled_back(client):
            response = getattr(client, method)(path, {"ride_arranged": "on"} if method == "post" else None)
            assert response.status_code == 404
            assert not leaks(response.content, forbidden_for(world, "self"))
    other_item.refresh_from_db()
    assert other_item.status == "open"


# --- Every URL has a row ------------------------------------------------------------------------------


def url_names() -> set[str]:
    names = set()

    def walk(patterns: list, namespace: str = "") -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry.url_patterns, ns)
            elif isinstance(entry, URLPattern):
                names.add(f"{namespace}:{entry.name}" if namespace else (entry.name or f"<unnamed {entry.pattern}>"))

    walk(get_resolver().url_patterns)
    return names


def test_every_url_is_in_the_table():
    """A new URL fails here until it gets its rows: GET and POST for every view, and every other method a
    REST view answers. The Django admin is covered by its rows as a whole (superusers only)."""
    names = url_names()
    in_table = {row.name for row in ROWS}
    missing = sorted(n for n in names - in_table if not n.startswith("admin:"))
    assert not missing, f"URLs without a row in the matrix: {missing}"
    assert not in_table - names, f"rows for URLs that no longer exist: {sorted(in_table - names)}"
    assert any(n.startswith("admin:") for n in in_table)
    problems = []
    for row in ROWS:
        values = dict.fromkeys(OBJECTS, "00000000-0000-4000-8000-000000000000") | {
            "template": "00000000-0000-4000-8000-000000000000"
        }
        path = row.path.split("?")[0].format_map(DefaultDict(values))
        match = resolve(path)
        if match.view_name != row.name:
            problems.append(f"{row}: the path resolves to {match.view_name}")
    for name in names - {n for n in names if n.startswith("admin:")}:
        methods = {row.verb for row in ROWS if row.name == name}
        if not {"get", "post"} <= methods:
            problems.append(f"{name}: needs a GET and a POST row (found {sorted(methods)})")
        view_class = getattr(_callback(name), "view_class", None) or getattr(_callback(name), "cls", None)
        for verb in ("patch", "put", "delete"):
            answers = view_class is not None and hasattr(view_class, verb) and verb in view_class.http_method_names
            if answers and verb not in methods:
                problems.append(f"{name}: answers {verb.upper()}, which has no row")
    assert not problems, "\n".join(problems)
    print(f"\n{len(names)} URL names, {len(ROWS)} rows")


class DefaultDict(dict):
    def __missing__(self, key: str) -> str:
        return "x"


def _callback(name: str):
    found = {}

    def walk(patterns: list, namespace: str = "") -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                found[f"{namespace}:{entry.name}" if namespace else entry.name] = entry.callback

    walk(get_resolver().url_patterns)
    return found[name]
