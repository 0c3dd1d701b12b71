"""A headless Service's A records as the router's DNS lookup sees them, set by the test."""

from __future__ import annotations


class FakeDNS:
    """The A records of a headless Service, or the error its lookup raises, as the test last set them."""

    def __init__(self) -> None:
        self.answer: list[str] | BaseException = []
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer
