"""When a channel may be used: the operator's contact window per channel, and a customer's
quiet hours. The contact policy (``contact_policy``) and the next-best channel and time
(``channel_choice``) both read them.
"""

from __future__ import annotations

#: Hours [start, end) in which the operator contacts customers through each channel.
CONTACT_WINDOWS: dict[str, tuple[int, int]] = {
    "SMS": (10, 19), "EMAIL": (8, 20), "OUTBOUND_CALL": (10, 20), "APP": (8, 21), "WEB": (0, 24),
    "CALL_CENTRE": (8, 21), "STORE": (9, 18), "AGENT": (9, 17),
}


def quiet_hours(text: str) -> list[int] | None:
    """Hours covered by ``HH-HH`` (wrapping midnight: ``21-08``; minutes ignored: ``12:00-14:00``).

    In: the text of a ``quiet_hours`` attribute or policy field. Out: the hours (0-23) in order
    from the start, or None when the text is not two hours between 0 and 24. Never raises.
    """
    try:
        start, end = (int(part.strip().split(":")[0]) for part in text.split("-"))
    except ValueError:
        return None
    if not (0 <= start <= 24 and 0 <= end <= 24):
        return None
    return list(range(start, end)) if start <= end else list(range(start, 24)) + list(range(end))
