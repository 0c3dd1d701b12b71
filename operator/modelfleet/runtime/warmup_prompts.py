"""The warm-up set's texts: what the experts of a Mistral-family mixture specialise in.

The Mixtral paper's routing analysis (Jiang et al., 2024, section 5) finds
that the router picks experts by the kind of token more than by the topic:
indentation and keywords in code, the words of each language, digits and
operators. So the set spans kinds of text rather than subjects: code, the
languages Mistral's models are trained for (English, French, German,
Spanish, Italian) and math, one prompt or more of each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    speciality: str
    text: str


PROMPTS: tuple[Prompt, ...] = (
    Prompt("code", "Write a Python function that merges two sorted lists in linear time, with type hints:\n"
                   "def merge(left: list[int], right: list[int]) -> list[int]:\n"),
    Prompt("code", "-- Monthly active users per country, most first\nSELECT country, COUNT(DISTINCT user_id) AS users\n"
                   "FROM events WHERE ts >= date_trunc('month', now())\n"),
    Prompt("english", "Explain to a new engineer why a service that scales on queue depth should wait "
                      "before it removes replicas, in three short paragraphs."),
    Prompt("french", "Explique simplement pourquoi le ciel est bleu et pourquoi les couchers de soleil "
                     "sont rouges, en quelques phrases."),
    Prompt("german", "Beschreibe in einigen Sätzen, wie ein Zug von Hamburg nach München fährt und was man "
                     "unterwegs sehen kann."),
    Prompt("spanish", "Escribe una receta sencilla de tortilla de patatas para cuatro personas, paso a paso."),
    Prompt("italian", "Racconta brevemente la storia di Venezia e perché è costruita sull'acqua."),
    Prompt("math", "Solve for x and show each step: 3x^2 - 12x + 9 = 0. Then compute the integral of "
                   "2x + 1 from 0 to 4 and check that 17 * 23 = 391."),
)

# Text the long-context prompt repeats up to the context length: every speciality, so a long
# prefill routes through as many experts as the short prompts do.
LONG_CONTEXT_TEXT = "\n\n".join(prompt.text for prompt in PROMPTS)
LONG_CONTEXT_QUESTION = "\n\nSummarise the text above in one sentence."
