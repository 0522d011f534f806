from django.urls import path, re_path

from api import fhir_views

app_name = "fhir"
urlpatterns = [
    # Results in (a transaction Bundle is posted to the base URL, as FHIR says).
    path("", fhir_views.TransactionCreate.as_view(), name="transaction"),
    path("Observation", fhir_views.ObservationCreate.as_view(), name="observation-create"),
    path("DiagnosticReport", fhir_views.DiagnosticReportCreate.as_view(), name="diagnosticreport-create"),
    path("metadata", fhir_views.Metadata.as_view(), name="metadata"),
    path("PlanDefinition/<str:uuid>", fhir_views.PlanDefinitionRead.as_view(), name="plandefinition"),
    path("Questionnaire/<slug:code>", fhir_views.QuestionnaireRead.as_view(), name="questionnaire"),
    # "$preop" is a FHIR operation name: the "$" is part of the path.
    re_path(r"^Patient/(?P<uuid>[^/]+)/\$preop$", fhir_views.PatientPreop.as_view(), name="patient-preop"),
]
