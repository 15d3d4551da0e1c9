"""Render ``models/emotion.json`` (schema: ``edge_emojify.model_card``) as the Markdown model card in README.

    python -m convert.model_card --card models/emotion.json

The README's card is generated from the JSON, so no number in it is typed by hand; a test
checks that README holds the current rendering.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from convert import run_script
from edge_emojify import model_card


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _row(name: str, ev: dict, key: str) -> str:
    acc = ev.get(key) or {}
    return f"| {name} | {_pct(acc.get('PublicTest'))} | {_pct(acc.get('PrivateTest'))} | {_pct(acc.get('all'))} |"


def _teachers(training: dict) -> str:
    teachers = training["teachers"]
    named = ", ".join(f"`{t['path']}` (sha256 `{t['sha256'][:16]}…`)" for t in teachers)
    mirror = " (each scoring the face and its mirror image)" if training.get("teacher_mirror") == "True" else ""
    return (f"the average of {len(teachers)} trained teachers{mirror}, {named}" if len(teachers) > 1 else
            f"a trained teacher{mirror}, {named}")


def _mixup(training: dict) -> str:
    alpha = float(training.get("mixup") or 0)
    return f", on mixup blends of two faces, weight ~ Beta({alpha:g}, {alpha:g})" if alpha else ""


def _schedule(training: dict) -> str:
    minutes = training.get("minutes")
    if minutes in (None, "None"):
        return "warm-up + cosine decay"
    return f"warm-up + cosine decay over {float(minutes):g} minutes of wall-clock time (`--minutes`)"


def _training_commands(training: dict) -> list[str]:
    """The teachers' runs first (a distilled model needs them rebuilt), then this model's run, each once."""
    commands = [c for t in training.get("teachers", []) for c in _training_commands(t)]
    commands.append(training.get("command", "(training command missing)"))
    return list(dict.fromkeys(commands))


def _commands(card: dict) -> list[str]:
    """Every command, in order; runs trained from a packed ``.npz`` (a GPU machine) need it packed first."""
    training = _training_commands(card.get("training", {}))
    conversion = card["conversion"]["command"]
    packed = sorted({arg for c in training for arg in shlex.split(c) if arg.endswith(".npz")})
    if packed:
        args = shlex.split(conversion)
        source = args[args.index("--data") + 1] if "--data" in args else "FER2013"
        training = [f"python -m convert.pack_device --data {source}  # writes {', '.join(packed)}", *training]
    evaluations = [ev["command"] for ev in card.get("evaluation", {}).values() if "command" in ev]
    fit = [card[section]["command"] for section in ("prior_correction", "contrast") if card.get(section)]
    return [*training, conversion, *fit, *evaluations]


def render(card: dict) -> str:
    evaluation = card.get("evaluation", {})
    flt, q = evaluation.get("float", {}), evaluation.get("int8", {})
    training = card.get("training", {})
    parity = card["conversion"]["parity"]
    lat = q.get("latency_per_face", {})
    labels_unused = bool(training.get("teachers")) and float(training.get("kd_weight", 0)) == 1  # teacher term only
    lines = [
        f"`models/emotion.tflite`: {card['size_bytes'] / 1e6:.2f} MB, sha256 `{card['sha256'][:16]}…`, "
        f"{training.get('params', '?')} parameters, full int8 (weights, activations, input, output).",
        "",
        f"- **Labels, in output order**: {', '.join(card['labels'])}.",
        f"- **Input**: {card['input']['size']}×{card['input']['size']}×1 {card['input']['dtype']}, "
        f"{card['input']['values']}; {card['input']['batch']}.",
        f"- **Crop**: {card['crop']['how']} (margin {card['crop']['margin']}).",
        f"- **Architecture**: VGG-style, two 3×3 conv + batch norm + ReLU per block, block widths "
        f"{training.get('widths', '?')}, first convolution stride {training.get('stem_stride', '1')}, "
        "max-pooling between blocks, global average pooling, dropout, softmax; normalisation inside.",
        f"- **Training**: FER2013 `train/` minus a stratified {float(training.get('val_fraction', 0.1)):.0%} "
        f"validation split that chose the epoch (epoch {training.get('best_epoch', '?')} of "
        f"{training.get('epochs_run', training.get('epochs', '?'))}, validation accuracy "
        f"{_pct(training.get('best_val_accuracy'))} %); batch "
        f"{training.get('batch', '?')}, AdamW (lr {training.get('lr', '?')}, weight decay "
        f"{training.get('weight_decay', '?')}), {_schedule(training)}, "
        + ("" if labels_unused else f"label smoothing {training.get('label_smoothing', '?')}, ")
        + "flip/rotate/zoom/shift/contrast/brightness/erasing "
        f"augmentation, seed {training.get('seed', '?')}, {training.get('backend', '?')} backend."
        + (f" Distilled from {_teachers(training)} (loss weight {training.get('kd_weight')}, temperature "
           f"{training.get('temperature')}{_mixup(training)}); their training commands come first below."
           if training.get("teachers") else "")
        + (f" Started from the weights of `{training['init_from']}`."
           if training.get("init_from") not in (None, "None") else ""),
        f"- **Data**: {card['data']}",
        "",
        "Accuracy (%) on the FER2013 test split, original labels:",
        "",
        "| model | PublicTest | PrivateTest | both |",
        "|---|---|---|---|",
        _row("float (Keras)", flt, "accuracy"),
        _row("**int8 (shipped)**", q, "accuracy"),
        _row("int8 + flip TTA (not used by the app)", q, "accuracy_flip_tta"),
        _row(f"int8 without the {q.get('train_duplicates_removed', '?')} test images duplicated in train", q,
             "accuracy_without_train_duplicates"),
        _row(f"int8 on FER+ majority-vote labels ({q.get('ferplus_majority_images', '?')} images)", q,
             "ferplus_majority_accuracy"),
        "",
        f"int8 and float agree on {_pct(parity['top1_agreement'])} % of the {parity['test_images']} test faces; "
        + (f"quantisation costs {parity['accuracy_drop_points']:.2f} points."
           if parity["accuracy_drop_points"] > 0 else
           f"int8 scores {-parity['accuracy_drop_points']:.2f} points above float (noise of calibration)."),
    ]
    if lat:
        lines.append(f"Latency per face: {lat['p50_ms']} ms median ({lat['runtime']}, {lat['threads']} thread, "
                     f"{lat['machine']} CI machine).")
    per_class = q.get("per_class")
    if per_class:
        lines += ["", "Per class (int8, both test halves):", "",
                  "| class | precision | recall | F1 | test images |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {_pct(c['precision'])} | {_pct(c['recall'])} | {_pct(c['f1'])} | {c['support']} |"
                  for name, c in per_class.items()]
    lines += _prior_correction(card)
    lines += _contrast(card)
    lines += ["", "Commands that made it:", "", "```sh", *_commands(card), "```"]
    return "\n".join(lines)


METRIC_NAMES = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy"}


def _prior_correction(card: dict) -> list[str]:
    """What the mirror applies on top of the scores, where it was chosen, and what it does on test."""
    pc = card.get("prior_correction")
    if not pc:
        return ["", "No prior correction is fitted: the mirror shows the model's scores as they are (tau 0)."]
    val = pc["validation"]
    lines = ["", f"**Prior correction (the mirror applies it)**: scores divided by the training class frequencies "
             f"to the power tau = {pc['tau']:g}, chosen to maximise {METRIC_NAMES[pc['metric']]} on "
             f"{pc['fitted_on']} (validation: accuracy {_pct(val['without']['accuracy'])} → "
             f"{_pct(val['with']['accuracy'])} %, macro-F1 {_pct(val['without']['macro_f1'])} → "
             f"{_pct(val['with']['macro_f1'])} %). `emotion.prior_correction = false` turns it off."]
    rows = [(kind, ev) for kind, ev in card.get("evaluation", {}).items() if "macro_f1" in ev]
    if rows:
        names = card["labels"]
        lines += ["", "Test split (both halves), without and with it:", "",
                  "| model | prior correction | accuracy | macro-F1 | " + " | ".join(names) + " |",
                  "|---|---|---|---|" + "---|" * len(names)]
        for kind, ev in rows:
            without = {"accuracy": ev["accuracy"]["all"], "macro_f1": ev["macro_f1"],
                       "recall": {n: c["recall"] for n, c in ev["per_class"].items()}}
            for label, figures in (("none", without), (f"tau {pc['tau']:g}", ev.get("prior_correction"))):
                if figures:
                    acc = figures["accuracy"]["all"] if isinstance(figures["accuracy"], dict) else figures["accuracy"]
                    lines.append(f"| {kind} | {label} | {_pct(acc)} | {_pct(figures['macro_f1'])} | "
                                 + " | ".join(_pct(figures["recall"][n]) for n in names) + " |")
    return lines


def _contrast(card: dict) -> list[str]:
    """The lift the mirror applies to flat crops, and what it does under each lighting on validation."""
    lift = card.get("contrast")
    if not lift:
        return ["", "No contrast lift is fitted: the mirror reads every crop as it is."]
    lines = ["", f"**Contrast lift (the mirror applies it)**: a crop with a grey standard deviation under "
             f"{lift['below_std']:g} (flatter than 98 % of the training faces: a face lit from behind, a dim "
             f"hall) is stretched to mean {lift['mean']:g} and standard deviation {lift['std']:g}, fitted on "
             f"{lift['fitted_on']}. `emotion.lift_contrast = false` turns it off. Accuracy (%) on the "
             f"{lift['validation']['faces']} validation faces, lit as the first column says:", "",
             "| validation faces | without | with | faces stretched |", "|---|---|---|---|"]
    lines += [f"| {name} | {_pct(row['without'])} | {_pct(row['with'])} | {row['stretched']} |"
              for name, row in lift["validation"]["accuracy"].items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.model_card", description=__doc__.split("\n\n")[0])
    p.add_argument("--card", type=Path, default=Path("models/emotion.json"))
    args = p.parse_args(argv)
    print(render(model_card.read(args.card)))
    return 0


if __name__ == "__main__":
    run_script(main)
