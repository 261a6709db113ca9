"""The demo scenario of issue #7: two overlapping requests and a photo-proof request."""

from yici.inbox.demo import load_demo_inbox
from yici.inbox.models import ItemStatus, Task, TaskStatus
from yici.inbox.selectors import inbox_items


def test_the_demo_story(world, people):
    story = load_demo_inbox(sender_username="dora")
    first, second, third = story["first"], story["second"], story["third"]
    assert first.status == TaskStatus.ADMITTED and first.items.exists()
    assert second.duplicate_of == first
    assert {i.status for i in second.items.all()} == {ItemStatus.LINKED}
    assert third.status == TaskStatus.PENDING_APPROVAL and not third.items.exists()
    assert all(t.status == TaskStatus.ADMITTED for t in story["plain"])
    assert len(story["recurring"]) == 1
    mine = [i.task_id for i in inbox_items(user=world.cadre)]
    assert first.pk in mine and second.pk not in mine and third.pk not in mine


def test_loading_the_demo_again_replaces_its_tasks(world, people):
    load_demo_inbox(sender_username="dora")
    count = Task.objects.count()
    story = load_demo_inbox(sender_username="dora")
    assert Task.objects.count() == count
    assert story["second"].duplicate_of == story["first"]  # not linked to the deleted earlier run
