"""People's contact methods in the contacts file, as the demo and the planners write them."""

from __future__ import annotations

from notifiers.contacts import person_channels


def test_write_contacts_tags_people_s_contact_methods_for_the_roster(tmp_path) -> None:
    from notifiers.apprise_adapter import load_recipients, write_contacts

    path = tmp_path / "contacts.yaml"
    write_contacts(path, {"vi-central": ["json://127.0.0.1:9/phone/vi-central-lead"]},
                   people={"kia-x": [("json://127.0.0.1:9/phone/kia-x-push", "push"), ("json://127.0.0.1:9/phone/kia-x-sms", "sms")]})
    assert person_channels(path) == {"kia-x": ("push", "sms")}
    assert set(load_recipients(path)) == {"vi-central"}  # a person's methods make no team
