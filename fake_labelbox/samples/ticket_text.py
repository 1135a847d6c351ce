"""Support tickets for the text checklist sample: each mentions one to three topics and may
carry flags (urgent, refund requested, churn risk), each through many phrasings, among
greetings, sign-offs and chatter that say nothing about either.

Phrasings use ``{a|b|c}`` alternatives, expanded at random, so the same topic rarely reads
the same twice; some words are shared between topics (an order is billed and shipped, an
account is also what one threatens to close)."""

from __future__ import annotations

import random
import re

TOPIC_PHRASES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged {twice|two times|double} for my {subscription|plan|order} this "
        "{month|week}",
        "the invoice {shows|lists|has} the wrong amount",
        "my {credit card|card|payment} was {declined|rejected} at checkout",
        "there is an {unexpected|unknown|extra} {fee|charge} on my {statement|bill|invoice}",
        "why did the price of my {plan|subscription} go up",
        "can you send me a {receipt|VAT invoice|copy of the invoice} for my order",
        "the {discount|promo code|coupon} was not applied to my {bill|payment}",
        "I was billed after my {trial|free month} ended",
    ),
    "shipping": (
        "my {package|parcel|order} has not arrived {yet|after two weeks|since Monday}",
        "the tracking {number|link|page} {does not update|shows nothing|is stuck}",
        "the courier {left|delivered} the {box|parcel|package} at the wrong address",
        "{delivery|shipping} is taking much longer than {promised|expected|advertised}",
        "the {box|parcel|package} arrived {damaged|crushed|opened}",
        "can I change the delivery address for my {order|parcel|shipment}",
        "only half of my order was {delivered|in the box|shipped}",
    ),
    "account": (
        "I cannot {log in|sign in|access my profile}",
        "the password reset {email|link|code} never {arrives|comes|works}",
        "please {update|change} the email address on my {profile|account|login}",
        "my account {was locked|got suspended|is disabled} for no reason",
        "how do I {enable|turn on|set up} two factor {authentication|login}",
        "I want to {merge|rename|transfer} my {duplicate|old|second} {profile|account}",
        "someone else {seems to be using|has access to|changed} my account",
    ),
    "bug": (
        "the app {crashes|freezes|hangs} when I {open|tap|click} the {settings|search|cart} "
        "{page|screen|button}",
        "I get an error {500|message|code} every time I {upload|save|export} a "
        "{file|photo|report}",
        "the {page|screen|dashboard} {is blank|stays white|does not load} after the "
        "{latest|last|new} update",
        "{buttons|images|menus} are {broken|missing|misaligned} on {Android|iOS|Firefox|Chrome}",
        "search returns {no results|wrong results|duplicates} even though the item exists",
        "the {export|sync|notification} feature {stopped working|fails silently|is broken}",
    ),
    "feature_request": (
        "it would be {great|nice|helpful} if you {added|supported|offered} "
        "{dark mode|a CSV export|an API|calendar sync}",
        "{please|could you} add {an option|a setting|a way} to {schedule|filter|share} "
        "{reports|orders|messages}",
        "{any plans|is there a roadmap} to support {Linux|offline mode|more languages}",
        "I would love to see {bulk editing|keyboard shortcuts|custom tags} in the next "
        "{release|version}",
        "{my team|we} would pay more for {team accounts|single sign-on|an audit log}",
    ),
}
FLAG_PHRASES: dict[str, tuple[str, ...]] = {
    "urgent": (
        "this is {urgent|critical|an emergency}",
        "please {fix|look at} this {asap|right away|immediately}",
        "I need this resolved {today|within the hour|before tonight}",
        "it is blocking our whole {team|company|shop}",
        "we have a {deadline|launch|client demo} {tomorrow|this afternoon}",
    ),
    "refund": (
        "I want a {refund|full refund}",
        "please {give me|send me} my money back",
        "I expect to be {reimbursed|refunded} {for this|in full}",
        "{reverse|refund} the charge please",
    ),
    "churn_risk": (
        "otherwise I will cancel my {subscription|plan}",
        "I am {thinking about|seriously considering} switching to a competitor",
        "this is your last chance before I {leave|go elsewhere}",
        "I am about to close my account for good",
        "if this keeps happening {I am done|we are done} with you",
    ),
}
FLAG_RATES = {"urgent": 0.3, "refund": 0.2, "churn_risk": 0.2}
REFUND_RATE_WHEN_BILLED = 0.45

OPENERS = ("Hi,", "Hello team,", "Good morning,", "Dear support,", "Hey there,", "Hi all,", "")
CLOSERS = ("Thanks.", "Thanks in advance!", "Regards, {Ana|Tom|Priya|Kenji|Sam}",
           "Cheers", "Sent from my phone", "Best wishes", "")
CHATTER = (
    "I have been a customer for {three years|a while|ages}.",
    "Not sure if this is the right place to ask.",
    "My reference is #{1042|2281|5930|7713|8846}.",
    "I already tried {restarting|logging out and in|another browser}.",
    "Hope you are well.",
    "{Also|Btw|FYI}, your website looks {nice|different} lately.",
    "A friend recommended you to me.",
)
ALTERNATIVES = re.compile(r"\{([^{}]*)\}")


def expand(rng: random.Random, phrase: str) -> str:
    return ALTERNATIVES.sub(lambda m: rng.choice(m.group(1).split("|")), phrase)


def ticket(rng: random.Random, topics: list[str], flags: list[str]) -> str:
    """A ticket saying something about each topic (once or twice) and each flag, in a
    shuffled order, among chatter."""
    sentences = [expand(rng, rng.choice(TOPIC_PHRASES[t])) for t in topics
                 for _ in range(rng.choice((1, 1, 2)))]
    sentences += [expand(rng, rng.choice(FLAG_PHRASES[f])) for f in flags]
    sentences += [expand(rng, c) for c in rng.sample(CHATTER, rng.randint(0, 2))]
    rng.shuffle(sentences)
    body = " ".join(_sentence(rng, s) for s in sentences)
    parts = (rng.choice(OPENERS), body, expand(rng, rng.choice(CLOSERS)))
    return " ".join(p for p in parts if p)


def flags_for(rng: random.Random, topics: list[str]) -> list[str]:
    return [flag for flag, rate in FLAG_RATES.items() if rng.random() < (
        REFUND_RATE_WHEN_BILLED if flag == "refund" and "billing" in topics else rate)]


def _sentence(rng: random.Random, text: str) -> str:
    text = text[0].upper() + text[1:] if rng.random() < 0.8 else text
    return text if text.endswith((".", "!", "?")) else text + rng.choice((".", ".", "!", ""))
