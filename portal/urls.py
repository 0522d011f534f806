from django.urls import path, re_path

from portal import questionnaire_views, views

app_name = "portal"
urlpatterns = [
    path("", views.start, name="start"),
    path("sent/", views.sent, name="sent"),
    path("in/verify", views.verify, name="verify"),
    re_path(r"^in/(?P<token>[A-Za-z0-9_-]{16,128})$", views.link_open, name="link_open"),
    path("out/", views.sign_out, name="sign_out"),
    path("language/", views.language_set, name="language"),
    path("me/", views.me, name="me"),
    path("me/items/<uuid:uuid>/confirm/", views.item_confirm, name="item_confirm"),
    path("me/calendar.ics", views.calendar_ics, name="calendar"),
    path("me/messages/", views.messages_prefs, name="messages"),
    path("me/messages/stop-sms/", views.sms_stop, name="sms_stop"),
    path("me/health/", questionnaire_views.questionnaire, name="questionnaire"),
    path("me/health/send/", questionnaire_views.questionnaire_send, name="questionnaire_send"),
    path("me/health/<slug:section>/", questionnaire_views.questionnaire_section, name="questionnaire_section"),
    path("staff/send/<uuid:uuid>/", views.staff_send, name="staff_send"),
]
