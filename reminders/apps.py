from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        from prep import hooks
        from reminders.planner import checklist_changed

        # Re-plan the reminders inside the transaction of every checklist change.
        if checklist_changed not in hooks.CHECKLIST_CHANGED:
            hooks.CHECKLIST_CHANGED.append(checklist_changed)
