"""The model card: a README.md with Hugging Face metadata, written into every model folder.

It states what the model is for and not for, what it was trained on, how it scores
in distribution and under the shift deployed models meet, and where it fails, so a
folder pushed to the hub or handed to another team carries its own caveats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hsctl.core.io import atomic_write_text

CARD_FILE = "README.md"


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "n/a"


def _front_matter(card: dict[str, Any]) -> list[str]:
    base = card.get("base_model") or {}
    name = str(base.get("name", ""))
    lines = ["---", "language: en", "license: apache-2.0", "library_name: transformers",
             "pipeline_tag: text-classification", "tags: [hate-speech, text-classification, hsctl]"]  # fmt: skip
    if "/" in name and not name.startswith(("/", ".")):
        lines.append(f"base_model: {name}")
    metrics = card.get("validation_metrics") or {}
    shift = card.get("shift_estimates") or {}
    lines += [
        "model-index:",
        f"  - name: {card.get('run_name', 'hsctl-model')}",
        "    results:",
        "      - task: {type: text-classification, name: hate speech detection}",
        "        dataset: {type: validation, name: validation split of the training data}",
        "        metrics:",
        f"          - {{type: f1, name: macro-F1 (in distribution), value: {_num(metrics.get('macro_f1'), 4)}}}",
        f"          - {{type: roc_auc, name: ROC-AUC (in distribution), value: {_num(metrics.get('roc_auc'), 4)}}}",
        f"          - {{type: f1, name: category-balanced macro-F1 at the deployment prior, "
        f"value: {_num(shift.get('balanced_macro_f1'), 4)}}}",
        "---",
    ]
    return lines


def render_model_card(card: dict[str, Any]) -> str:
    """Markdown of the card from the content of ``hsctl.json``."""
    base = (card.get("base_model") or {}).get("name", "unknown")
    metrics = card.get("validation_metrics") or {}
    shift = card.get("shift_estimates") or {}
    data = card.get("data") or {}
    training = card.get("training") or {}
    prior = card.get("target_prior")
    lines = _front_matter(card)
    lines += [
        f"# {card.get('run_name', 'hsctl model')}",
        "",
        f"A binary hate-speech classifier for English tweets (labels: {', '.join(card.get('labels', []))}), "
        f"fine-tuned from `{base}` by [hsctl](https://github.com/hsctl/hsctl). Version `{card.get('model_version')}`.",
        "",
        "## Intended use",
        "",
        "- Flagging likely hate speech in short English social-media posts for human review, ranking a "
        "moderation queue, or measuring hate prevalence in aggregate.",
        f"- Decision: P(hate) is re-weighted to a deployment hate rate of "
        f"{_num(prior, 2) if prior else 'the validation rate'} and compared with the stored threshold "
        f"{_num(card.get('threshold'))}.",
        "",
        "## Out of scope and misuse",
        "",
        "- Automated removal or sanctions without human review; decisions about individuals.",
        "- Languages other than English, long documents, and platforms whose posts differ from tweets.",
        "- Inferring anyone's identity or group membership from text.",
        "",
        "## Training data",
        "",
        f"- Source: `{data.get('source') or 'unknown'}`; rows per split: {_rows(data.get('rows'))}.",
        f"- Hate share in training: {_num(card.get('train_prior'), 3)}; hate rows per category in validation: "
        f"{_train_mix(card)}.",
        f"- Recipe: {training.get('epochs_completed')} epochs, learning rate {training.get('learning_rate')}, "
        f"{training.get('frozen_layers', 0)} bottom layers frozen, category weighting "
        f"`{training.get('category_weighting')}`, checkpoint chosen by `{training.get('selection_metric')}`, "
        f"temperature calibration (scale {_num((card.get('calibration') or {}).get('scale'))}).",
        f"- Contrast rows: {_contrast(training)}.",
        "- Threshold: best weighted macro-F1 on validation re-weighted to the deployment prior (categories equal, "
        "implicit hate at least half of each category's hate) joined by contrast rows of held-out templates.",
        "",
        "## Results",
        "",
        "| measure (validation split) | value |",
        "| --- | --- |",
        f"| macro-F1 at the stored threshold (in distribution) | {_num(metrics.get('macro_f1'))} |",
        f"| ROC-AUC (in distribution) | {_num(metrics.get('roc_auc'))} |",
        f"| category-balanced macro-F1 at the deployment prior | {_num(shift.get('balanced_macro_f1'))} |",
        f"| category-balanced ROC-AUC | {_num(shift.get('balanced_roc_auc'))} |",
        f"| recall on implicit hate (no profanity or slur; n={shift.get('implicit_hate_support', 0)}) "
        f"| {_num(shift.get('implicit_hate_recall'))} |",
        f"| worst per-category hate recall | {_num(shift.get('worst_category_recall'))} |",
        f"| macro-F1 on held-out contrast templates (group mentions, counter-speech, implicit hate) "
        f"| {_num((shift.get('contrast_holdout') or {}).get('macro_f1'))} |",
        "",
    ]
    lines += _category_table(shift)
    lines += _suite_section(card.get("functional_suite"))
    lines += [
        "## Known failure modes",
        "",
        "- Validation rows come from the training distribution: expect lower scores on hate that is implicit "
        "(stereotypes, exclusion, dehumanising comparisons) or aimed at categories rare in training.",
        "- Per-category numbers on validation rest on a handful of rows for the rare categories.",
        "- Quoted or negated hate (counter-speech), reclaimed slurs and identity terms in innocent contexts "
        "can still raise P(hate): the contrast rows reduce this, they do not remove it; see the behavioural "
        "suite's per-functionality pass rates.",
        "- Hate phrased in ways neither the training file nor the contrast templates cover (new coded terms, "
        "long sarcasm) is often missed.",
        *_weakest(card.get("functional_suite")),
        "",
    ]
    return "\n".join(lines)


def _weakest(suite: dict[str, Any] | None, count: int = 5) -> list[str]:
    """The behavioural suite's lowest pass rates, named, as this model's own failure modes."""
    per = (suite or {}).get("per_functionality") or {}
    if not per:
        return []
    worst = sorted(per.items(), key=lambda item: item[1].get("pass_rate", 1.0))[:count]
    names = ", ".join(f"{name} ({_num(score.get('pass_rate'), 2)})" for name, score in worst)
    return [f"- This model's weakest behavioural-suite functionalities: {names}."]


def _contrast(training: dict[str, Any]) -> str:
    counts = training.get("contrast_rows") or {}
    if not counts.get("fit"):
        return "none"
    return (
        f"{counts['fit']} generated rows in training (group mentions that are not hate beside hate naming the same "
        f"groups), {counts.get('holdout', 0)} from held-out templates used for the threshold"
    )


def _train_mix(card: dict[str, Any]) -> str:
    per = (card.get("shift_estimates") or {}).get("per_category_recall") or {}
    return ", ".join(f"{name} {v.get('support')}" for name, v in per.items()) if per else "n/a"


def _rows(rows: Any) -> str:
    if not isinstance(rows, dict):
        return "unknown"
    return ", ".join(f"{k} {v:,}" for k, v in rows.items())


def _category_table(shift: dict[str, Any]) -> list[str]:
    per = shift.get("per_category_recall") or {}
    if not per:
        return []
    out = ["| category | hate recall (validation) | rows |", "| --- | --- | --- |"]
    out += [f"| {name} | {_num(v.get('recall'))} | {v.get('support')} |" for name, v in per.items()]
    return [*out, ""]


def _suite_section(suite: dict[str, Any] | None) -> list[str]:
    if not suite:
        return ["## Behavioural suite", "", "Not run (`hsctl evaluate --suite functional` scores it).", ""]
    out = [
        "## Behavioural suite",
        "",
        f"`hsctl evaluate --suite functional`: {_num(suite.get('pass_rate'))} of {suite.get('n')} cases pass "
        f"(hate cases {_num(suite.get('hate_pass_rate'))}, non-hate cases {_num(suite.get('non_hate_pass_rate'))}).",
        "",
        "| functionality | gold | pass rate |",
        "| --- | --- | --- |",
    ]
    for name, score in (suite.get("per_functionality") or {}).items():
        gold = "hate" if score.get("label") == 1 else "non-hate"
        out.append(f"| {name} | {gold} | {_num(score.get('pass_rate'))} |")
    return [*out, ""]


def write_model_card(model_dir: Path, card: dict[str, Any]) -> Path:
    """Write ``README.md`` into ``model_dir``."""
    path = Path(model_dir) / CARD_FILE
    atomic_write_text(path, render_model_card(card))
    return path
