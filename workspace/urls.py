from django.urls import path

from workspace import dashboard_views, inbox_views, questionnaire_views, views

app_name = "workspace"
urlpatterns = [
    path("", views.board, name="board"),
    path("worklist/", views.worklist, name="worklist"),
    path("book/", views.booking_new, name="book"),
    path("patients/<uuid:uuid>/", views.patient_detail, name="patient"),
    path("patients/<uuid:uuid>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<uuid:uuid>/medications/add/", views.medication_add, name="medication_add"),
    path("patients/<uuid:uuid>/guardians/add/", views.guardian_add, name="guardian_add"),
    path(
        "patients/<uuid:uuid>/guardians/<uuid:guardian_uuid>/edit/",
        views.guardian_edit,
        name="guardian_edit",
    ),
    path(
        "patients/<uuid:uuid>/medications/<uuid:medication_uuid>/stop/",
        views.medication_stop,
        name="medication_stop",
    ),
    path("surgeries/<uuid:uuid>/", views.surgery_detail, name="surgery"),
    path("surgeries/<uuid:uuid>/print/", views.surgery_print, name="surgery_print"),
    path("surgeries/<uuid:uuid>/edit/", views.surgery_edit, name="surgery_edit"),
    path("surgeries/<uuid:uuid>/cancel/", views.surgery_cancel, name="surgery_cancel"),
    path("surgeries/<uuid:uuid>/go/", views.go_decision, name="go_decision"),
    path("surgeries/<uuid:uuid>/notes/", views.note_add, name="note_add"),
    path("surgeries/<uuid:uuid>/questionnaire/", questionnaire_views.questionnaire, name="questionnaire"),
    path("items/<uuid:uuid>/complete/", views.item_complete, name="item_complete"),
    path("items/<uuid:uuid>/not-applicable/", views.item_not_applicable, name="item_not_applicable"),
    path("items/<uuid:uuid>/undo/", views.item_undo, name="item_undo"),
    path("items/<uuid:uuid>/accept/", views.item_accept, name="item_accept"),
    path("items/<uuid:uuid>/hold/", views.hold_decide, name="hold_decide"),
    path("items/<uuid:uuid>/history/", views.item_history, name="item_history"),
    path("items/<uuid:uuid>/documents/", views.document_upload, name="document_upload"),
    path("documents/<uuid:uuid>/", views.document_download, name="document_download"),
    # The clinic dashboard (clinic admins and lead nurses): charts, their tables and CSV files.
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/charts.css", dashboard_views.dashboard_css, name="dashboard_css"),
    path("dashboard/<slug:chart>.csv", dashboard_views.dashboard_csv, name="dashboard_csv"),
    # The results review queue (what the lab sent that did not fit).
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/<uuid:uuid>/", inbox_views.inbox_message, name="inbox_message"),
    path("inbox/<uuid:uuid>/dismiss/", inbox_views.inbox_dismiss, name="inbox_dismiss"),
    path("inbox/<uuid:uuid>/match/", inbox_views.inbox_match, name="inbox_match"),
    path("inbox/<uuid:uuid>/complete/", inbox_views.inbox_complete, name="inbox_complete"),
]
