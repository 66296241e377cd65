"""Contrast data: group mentions that are not hate, beside hate that names the same groups.

The training file teaches that naming a group goes with attacking it: almost every
tweet that says "muslims" or "gay" in it is hate. A model trained on it alone
removes "I love Muslims" and every post that denounces hate. Contrast rows are
minimal pairs generated from templates: the same identity terms in counter-speech,
negated hate, positive, neutral and self-identifying statements (label 0), next to
derogation, threats, dehumanisation and implicit hate (label 1), plus abuse and
profanity aimed at no protected group (label 0).

The templates and word lists here were written for training and share no template
and no wording with the behavioural suite (``hsctl.evaluate.suite``), which stays a
test: ``tests/unit/test_contrast.py`` checks that no four-word run of any template
appears in a suite template, and training refuses rows that are suite cases.

Templates are split in two by a stable hash: ``fit`` rows join the training split;
``holdout`` rows (templates the model never sees) are scored after training and
help choose the threshold (:mod:`hsctl.train.decide`), so the operating point is
set on wording the model was not fitted to, as deployment traffic is.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal

Part = Literal["fit", "holdout"]

# (plural, singular-with-article, category); the nine categories of the training data.
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("black folks", "a black man", "Race"),
    ("asian americans", "an asian woman", "Race"),
    ("people of colour", "a person of colour", "Race"),
    ("gay men", "a gay guy", "Sexual Orientation"),
    ("lesbian couples", "a lesbian", "Sexual Orientation"),
    ("bi folks", "a bisexual man", "Sexual Orientation"),
    ("trans women", "a trans woman", "Gender"),
    ("women in tech", "a female engineer", "Gender"),
    ("trans kids", "a trans teenager", "Gender"),
    ("plus-size folks", "a plus-size woman", "Physical Appearance"),
    ("people with acne", "a guy with scars on his face", "Physical Appearance"),
    ("muslim families", "a woman in a hijab", "Religion"),
    ("jews", "a jewish kid", "Religion"),
    ("sikhs", "a sikh man", "Religion"),
    ("blind people", "a blind woman", "Disability"),
    ("people with down syndrome", "an autistic kid", "Disability"),
    ("people with schizophrenia", "a man in a wheelchair", "Disability"),
    ("immigrants", "an immigrant", "Ethnicity"),
    ("refugees", "a refugee", "Ethnicity"),
    ("latinos", "a latina nurse", "Ethnicity"),
    ("people on benefits", "a single mum on benefits", "Class"),
    ("rough sleepers", "a homeless guy", "Class"),
    ("drug users", "a recovering addict", "Behavior"),
)

# Hateful claims, shared by the hate templates and by the counter-speech that quotes them.
SMEARS: tuple[str, ...] = (
    "{p} are parasites",
    "{p} are animals",
    "{p} are a stain on humanity",
    "{p} should all be deported",
    "{p} ought to be locked up",
    "{p} carry diseases",
    "{p} are less than human",
    "{p} cannot be trusted around kids",
    "{p} are born criminals",
    "{p} ruin every street they move into",
)

HATE: tuple[str, ...] = (
    "{smear}",
    "{smear}. sorry but it's true",
    "honestly {smear}",
    "everyone knows {smear}",
    "{smear} and i'm tired of pretending otherwise",
    "i'd happily punch {s} in the mouth",
    "we need to get rid of {p} for good",
    "{p} deserve to suffer",
    "round up the {p} and ship them off",
    "i want every one of the {p} gone from this country",
    "no wonder the neighbourhood went downhill, {p} moved in",
    "{p} are why we can't have nice things",
    "can't trust {p}, they're all the same",
    "why do we keep letting {p} breed",
    "{p}? worthless. every one of them",
    "just saw {s} on the train and wanted to throw up",
    "the only good thing about {p} is that they die young",
    "if i see {s} at the gym again i'm going to make them regret it",
    "{p} belong in cages",
    "my landlord rents to {p} now, the place will be a dump in a month",
)

COUNTER_QUOTE: tuple[str, ...] = (
    'someone just tweeted "{smear}". that is disgusting and i reported it',
    'imagine typing "{smear}" and thinking you are the good guy',
    "'{smear}' - no. this is bigotry and it should not be on my timeline",
    'the guy at the pub kept saying "{smear}" so we left. nobody should have to hear that',
    'stop sharing posts that say "{smear}". it is hateful and false',
    'my gran grew up hearing "{smear}" and it still hurts her',
)

NON_HATE: tuple[str, ...] = (
    # negated hate
    "it is simply not true that {smear_bare}",
    "nobody with a brain thinks {smear_bare}",
    "i refuse to believe {smear_bare}, that's propaganda",
    "{p} were never the issue here, not once",
    "stop spreading lies, {p} pose no danger to anyone",
    # denouncing, without quoting
    "the way people talk about {p} online is shameful",
    "if you're cruel to {p} you can unfollow me",
    "so sick of seeing {p} harassed in the comments",
    "solidarity with {p}, always",
    "violence against {p} has to end",
    # positive
    "i really admire {p}",
    "{p} have made this city so much better",
    "so thankful for the {p} i know",
    "{s} saved my life last year and i'll never forget it",
    "{p} are brilliant and i won't hear otherwise",
    "happy to have {s} as my neighbour",
    # neutral
    "{p} were interviewed for tonight's programme",
    "there are {n} {p} registered in the county",
    "the charity supports {p} with housing advice",
    "{s} opened a bakery on the high street",
    "researchers studied how {p} use public transport",
    "my cousin works with {p} at the hospital",
    "documentary about {p} airs on sunday",
    # self-identification
    "as {s}, i'm tired and need coffee",
    "speaking as {s} i think the new bus timetable is fine",
)

NOT_PROTECTED: tuple[str, ...] = (
    "politicians",
    "landlords",
    "bankers",
    "estate agents",
    "tory voters",
    "traffic wardens",
    "chelsea fans",
    "influencers",
    "billionaires",
    "tax dodgers",
    "cyclists who run red lights",
    "the people who designed this app",
)

ABUSE: tuple[str, ...] = (
    "{x} are scum, all of them",
    "honestly {x} can rot",
    "i despise {x} more than anything",
    "{x} are leeches bleeding ordinary folk dry",
    "{x} should be ashamed of themselves",
    "hope {x} choke on their bonuses",
)

INDIVIDUAL: tuple[str, ...] = (
    "{u} you absolute muppet, read the article before replying",
    "{u} nobody believes a word you say, liar",
    "{u} go away, you pathetic little troll",
    "{u} what a stupid thing to say, genuinely brain dead take",
    "{u} you are the worst driver i've ever seen",
    "{u} piss off with your crypto scam",
)

PROFANITY: tuple[str, ...] = (
    "bloody hell this queue is long",
    "fucking finally, the weekend",
    "that was one shit film, want my money back",
    "holy crap i passed my driving test",
    "damn, that coffee hit the spot",
    "pissing down again, brilliant",
    "what a fucking legend, scored from the halfway line",
    "shit, missed the last bus",
)

HANDLES: tuple[str, ...] = ("@rob_t", "@ella_k", "@newsdesk", "@marco77", "@sam_writes")


@dataclass(frozen=True)
class ContrastRow:
    """One generated text with its label, category and the template it came from."""

    text: str
    label: int
    category: str | None
    kind: str
    template: str


def _part(template: str) -> Part:
    """A stable split of templates: about one in four is held out from fitting."""
    digest = hashlib.sha256(template.encode("utf-8")).digest()
    return "holdout" if digest[0] % 4 == 0 else "fit"


def _fill(template: str, plural: str, singular: str, rng: random.Random) -> str:
    smear = rng.choice(SMEARS).format(p=plural)
    return template.format(
        p=plural, s=singular, smear=smear, smear_bare=smear, n=rng.choice(("1,200", "40,000", "3,500"))
    )


def generate(*, seed: int = 0, per_template: int = 10) -> list[ContrastRow]:
    """Every contrast row: each group template filled for ``per_template`` groups, plus untargeted rows."""
    rng = random.Random(seed)
    rows: list[ContrastRow] = []
    grouped = (
        [(t, 1, "hate") for t in HATE]
        + [(t, 0, "counter_quote") for t in COUNTER_QUOTE]
        + [(t, 0, "non_hate") for t in NON_HATE]
    )
    for template, label, kind in grouped:
        for plural, singular, category in rng.sample(GROUPS, per_template):
            rows.append(ContrastRow(_fill(template, plural, singular, rng), label, category, kind, template))
    for template in ABUSE:
        for target in rng.sample(NOT_PROTECTED, per_template):
            rows.append(ContrastRow(template.format(x=target), 0, None, "abuse_not_protected", template))
    for template in INDIVIDUAL:
        for handle in rng.sample(HANDLES, min(per_template, len(HANDLES))):
            rows.append(ContrastRow(template.format(u=handle), 0, None, "abuse_individual", template))
    rows.extend(ContrastRow(text, 0, None, "profanity", text) for text in PROFANITY)
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row.text not in seen:
            seen.add(row.text)
            unique.append(row)
    return unique


def contrast_rows(part: Part, *, seed: int = 0, per_template: int = 10) -> list[ContrastRow]:
    """The rows whose template falls in ``part`` ('fit' for training, 'holdout' for the threshold)."""
    return [row for row in generate(seed=seed, per_template=per_template) if _part(row.template) == part]


def all_templates() -> list[str]:
    """Every template and fixed text, for the overlap check against the suite."""
    return [*SMEARS, *HATE, *COUNTER_QUOTE, *NON_HATE, *ABUSE, *INDIVIDUAL, *PROFANITY]
