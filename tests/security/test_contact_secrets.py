"""Contact URLs carry the gateways' credentials; only masked URLs are logged or recorded, and the mask
covers what Apprise's own leaves as given: custom headers, query arguments and payload fields."""

from __future__ import annotations

from apprise import Apprise

from notifiers.apprise_adapter import masked_url


def test_passwords_and_custom_arguments_are_masked() -> None:
    apprise = Apprise()
    apprise.add("json://vigil:PW-SECRET@gateway.example:8443/phone/x?+X-Api-Key=KEY-SECRET&-apikey=ARG-SECRET&:token=FIELD-SECRET")
    masked = masked_url(apprise[0])
    assert masked == ("json://vigil:****@gateway.example:8443/phone/x?method=POST&overflow=upstream&retry=0&wait=0.5&optional=no"
                      "&%2BX-Api-Key=****&-apikey=****&%3Atoken=****")
