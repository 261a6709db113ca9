"""Background work of the exchange app. A task only calls a service."""

from django.tasks import task


@task
def import_batch(batch_id: int, overrides: dict, actor_id: int | None = None) -> dict:
    """Import a queued (waiting) batch from its kept upload, then link the rows into the registry."""
    from yici.accounts.models import User
    from yici.exchange.uploads import import_execute

    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    batch = import_execute(batch_id=batch_id, overrides=overrides or {}, actor=actor)
    return {"batch": batch_id, "status": batch.status if batch is not None else "skipped"}
