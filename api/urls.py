from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from api import questionnaire_views, views

app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.ApiDocs.as_view(), name="docs"),
    path("patients/", views.PatientListCreate.as_view(), name="patients"),
    path("patients/search/", views.PatientSearch.as_view(), name="patient-search"),
    path("patients/<str:uuid>/", views.PatientDetail.as_view(), name="patient"),
    path("patients/<str:uuid>/medications/", views.MedicationListCreate.as_view(), name="medications"),
    path("patients/<str:uuid>/guardians/", views.GuardianListCreate.as_view(), name="guardians"),
    path(
        "patients/<str:uuid>/guardians/<str:guardian_uuid>/",
        views.GuardianDetail.as_view(),
        name="guardian",
    ),
    path(
        "patients/<str:uuid>/medications/<str:medication_uuid>/stop/",
        views.MedicationStop.as_view(),
        name="medication-stop",
    ),
    path("surgeries/", views.SurgeryListCreate.as_view(), name="surgeries"),
    path("surgeries/<str:uuid>/", views.SurgeryDetail.as_view(), name="surgery"),
    path("surgeries/<str:uuid>/cancel/", views.SurgeryCancel.as_view(), name="surgery-cancel"),
    path("surgeries/<str:uuid>/checklist/", views.SurgeryChecklist.as_view(), name="surgery-checklist"),
    path("surgeries/<str:uuid>/reminders/", views.SurgeryReminders.as_view(), name="surgery-reminders"),
    path(
        "surgeries/<str:uuid>/questionnaires/",
        questionnaire_views.SurgeryQuestionnaires.as_view(),
        name="surgery-questionnaires",
    ),
    path("items/<str:uuid>/", views.ItemDetail.as_view(), name="item"),
    path("items/<str:uuid>/complete/", views.ItemComplete.as_view(), name="item-complete"),
    path("items/<str:uuid>/not-applicable/", views.ItemNotApplicable.as_view(), name="item-not-applicable"),
    path("readiness/", views.ReadinessList.as_view(), name="readiness"),
    path("procedures/", views.ProcedureList.as_view(), name="procedures"),
    path("exports/board.csv", views.BoardCsvExport.as_view(), name="export-board"),
    path("tokens/", views.TokenListCreate.as_view(), name="tokens"),
    path("tokens/<str:uuid>/revoke/", views.TokenRevoke.as_view(), name="token-revoke"),
]
