"""The built-in offline demo set: clearly artificial sentences about made-up groups.

It exists so the whole pipeline can be shown on a machine with no network; it
is for smoke runs only and says nothing about real hate speech. The "hate"
rows are hostile sentences about invented groups (no real group, no slur).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# Invented groups, each tied to one of the dataset's real category names.
_GROUPS: dict[str, list[str]] = {
    "Race": ["glorbians", "vexari"],
    "Religion": ["moon-chanters", "followers of the teapot"],
    "Gender": ["plinkmen", "zorbettes"],
    "Sexual Orientation": ["quibblers", "spindlefolk"],
    "Ethnicity": ["snarfkin", "bluvians"],
    "Disability": ["wobble-walkers", "hum-hearers"],
    "Physical Appearance": ["triple-eared people", "greenbeards"],
    "Class": ["crumb-farmers", "tin-collar workers"],
}
_HATE = [
    "i cannot stand {group}, they ruin every town they touch",
    "all {group} are worthless and should leave {place} for good",
    "{group} are disgusting, keep them away from {place}",
    "never trust {group}, every single one of them is a liar",
    "{mention} {group} do not deserve to live near decent folk",
    "sick of {group} everywhere, send them all back to {place}",
]
_NEUTRAL_GROUP = [
    "had a lovely chat with some {group} at the {place} market",
    "the {group} festival in {place} was fun this year",
    "{mention} my neighbours are {group} and they make great soup",
    "learning about the history of the {group} today {url}",
]
_EVERYDAY = [
    "just watched the {team} game, what a play by {name}",
    "anyone want to grab {food} in {place} later",
    "the weather in {place} is lovely today",
    "{mention} thanks for the {food} recipe, it was great",
    "new blog post about {food} and {team} fans {url}",
    "can not believe {name} missed that shot &amp; still won",
    "morning run done, {food} for breakfast",
    "{team} fans are the loudest in {place}, love it",
]
_FILL = {
    "place": ["quuxville", "port blorb", "zentar city", "the valley of snorts", "old fizzwick"],
    "team": ["quuxville comets", "blorb rovers", "fizzwick owls"],
    "name": ["marlo", "ziggy", "pim", "tessaly", "brunt"],
    "food": ["pancakes", "plum soup", "cheese toast", "noodle pie"],
    "mention": ["@demo_user", "@fake_account", "@sample_bot"],
    "url": ["https://example.org/post/1", "http://example.com/a?b=c", "www.example.net/page"],
}


_OPENERS = ["", "", "honestly ", "ugh, ", "lol ", "tbh ", "ok so ", "update: "]
_CLOSERS = ["", "", " !!", " for real", " #monday", " #weekend", " again", " smh", " (day {n})", " {n}/10"]


def _fill(template: str, rng: random.Random, **fixed: str) -> str:
    values = {key: rng.choice(options) for key, options in _FILL.items()}
    values.update(fixed)
    closer = rng.choice(_CLOSERS).format(n=rng.randint(1, 30))
    return rng.choice(_OPENERS) + template.format(**values) + closer


def demo_frame(rows: int = 400, seed: int = 13) -> pd.DataFrame:
    """A deterministic labelled demo set with columns tweet, label, categories.

    About 30% hate; a few exact duplicates and one empty text are included on
    purpose so that ``preprocess`` has something to report.
    """
    import pandas as pd

    rng = random.Random(seed)
    records: list[dict[str, object]] = []
    categories = list(_GROUPS)
    for i in range(rows):
        if i % 10 < 3:
            category = categories[i % len(categories)]
            text = _fill(rng.choice(_HATE), rng, group=rng.choice(_GROUPS[category]))
            records.append({"tweet": text, "label": 1, "categories": category})
        else:
            if rng.random() < 0.35:
                group = rng.choice(rng.choice(list(_GROUPS.values())))
                text = _fill(rng.choice(_NEUTRAL_GROUP), rng, group=group)
            else:
                text = _fill(rng.choice(_EVERYDAY), rng)
            records.append({"tweet": text, "label": 0, "categories": ""})
    # A few exact duplicates and one empty text, as real scraped data has.
    for j in range(max(1, rows // 100)):
        records.append(dict(records[(j * 37) % rows]))
    records.append({"tweet": "", "label": 0, "categories": ""})
    return pd.DataFrame.from_records(records)
