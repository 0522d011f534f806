"""Use cases: what a person (or a system through the API) does, each in one transaction.

Between delivery (``workspace``, ``portal``, ``api``: views, forms, serializers) and the outbox
(``reminders``). An action checks nothing a service does not already check; it calls the
clinical services (``patients.services``, ``prep.services``) in one transaction and ends with an
explicit call to the reminder planner (``reminders.planner``) wherever what the patient is
reminded of may change. No hook lists and no signals: a reader of an action sees everything it
does. Delivery code makes every domain write through here; services stay free of side effects
on the outbox.

- ``booking``: book (the booking form's patient, medications and surgery at once), reschedule or
  change, cancel.
- ``patients``: create and update a patient, add and stop a medication.
- ``items``: complete, not applicable, the patient's confirmation, accept, undo.
- ``decisions``: the prescriber's hold decision, the surgeon's go / no go.
- ``documents``: a document (PDF, PNG, JPEG) attached to an item by staff.
- ``preview``: run an action for real in a transaction that is always rolled back.
"""
