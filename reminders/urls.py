from django.urls import path

from reminders import views

app_name = "reminders"
urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("metrics/", views.metrics, name="metrics"),
    path("twilio/status/", views.twilio_status, name="twilio-status"),
    path("twilio/inbound/", views.twilio_inbound, name="twilio-inbound"),
]
