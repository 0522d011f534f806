def test_messages_panel_lists_the_planned_reminders(client_for, book, nurse):
    from reminders.models import Reminder

    surgery = book("trigeminal-rf", medications=["clopidogrel"])
    planned = Reminder.objects.filter(surgery_id=surgery.pk)
    assert planned.exists()
    html = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Messages to the patient" in html
    assert planned.first().get_kind_display() in html
    assert "Pending" in html or "pending" in html
