"""Scoring de-limited audio against the unlimited references (utils/evaluation/metrics.py); the
CLI is eval_delimit.py.

Pairing, by name: a folder holds plain files (`{name}.wav`, any of utils.audio's
AUDIO_EXTENSIONS; the name is the file stem) and/or musdb-style song folders
(`{name}/mixture.wav` for references and inputs, `{name}/all.wav` for estimates as
`inference --save_name_as_target` writes them); a folder whose songs sit under `test/`
(musdb18-HQ, musdb-XL) is read from there. Estimates and inputs are resampled (soxr) to the
reference's rate and all three trimmed to the shortest.

Baselines score the limited inputs themselves ("input") or the inputs loudness-normalised to
-14 LUFS ("loudnorm") in place of estimates.

Results: a row per file (results_csv), a summary (summary_markdown: mean, median, min, max
per metric and the worst files) and a histogram of the key metric (distribution_png),
written together by write_outputs.
"""
import csv
import io
import os
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from utils import audio as audio_io
from utils import plots
from utils.audio import AUDIO_EXTENSIONS, UnreadableAudio, resample, write_atomic
from utils.errors import DelimitError
from utils.evaluation import metrics
from utils.loudness import normalize_loudness

LOUDNORM_LUFS = -14.0
# File stems that stand for the song in a musdb-style song folder, by role, preferred first.
SONG_FILES = {"reference": ("mixture",), "input": ("mixture",), "estimate": ("all", "mixture")}


@dataclass
class Pair:
    """One song to score: its name and the paths of its files (input may be None)."""
    name: str
    reference: str
    estimate: str
    input: str = None


def _audio_in(folder, stems):
    """Path of the first `{stem}.{ext}` in `folder` for stem in `stems`, or None."""
    for stem in stems:
        for ext in AUDIO_EXTENSIONS:
            path = os.path.join(folder, stem + ext)
            if os.path.isfile(path):
                return path
    return None


def index_folder(folder, role):
    """Map song name -> audio path for every song in `folder`.

    Args:
        folder: a folder of plain audio files and/or song folders (see the module docstring).
        role: "reference", "input" or "estimate" (which file stands for a song folder).
    Returns:
        (dict name -> path, list of problem messages for names found twice).
    Raises:
        DelimitError: the folder does not exist or holds no audio.
    """
    if not os.path.isdir(folder):
        raise DelimitError(f"{folder}: no such folder ({role}s)")
    found, problems = {}, []

    def scan(root):
        for entry in sorted(os.listdir(root)):
            path = os.path.join(root, entry)
            stem, ext = os.path.splitext(entry)
            if entry.startswith("."):
                continue  # hidden, e.g. a temporary file still being written
            if os.path.isfile(path) and ext.lower() in AUDIO_EXTENSIONS:
                name = stem
            elif os.path.isdir(path) and _audio_in(path, SONG_FILES[role]):
                name, path = entry, _audio_in(path, SONG_FILES[role])
            else:
                continue
            if name in found:
                problems.append(f"{path}: the {role} '{name}' is also {found[name]}; "
                                "rename one of them")
                continue
            found[name] = path

    scan(folder)
    if not found and os.path.isdir(os.path.join(folder, "test")):
        scan(os.path.join(folder, "test"))  # a musdb root: score its test songs
    if not found:
        raise DelimitError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) or song "
                           f"folders with {'/'.join(SONG_FILES[role])}.wav found ({role}s)")
    return found, problems


def pair_files(references, estimates, inputs=None):
    """Pair the songs of three folders by name.

    Args:
        references, estimates: folders (see index_folder); inputs: folder or None.
    Returns:
        (list of Pair sorted by name, list of one-line problem messages, each naming a file:
        an estimate or reference without counterpart, a pair without input, a duplicate name).
    Raises:
        DelimitError: a folder is missing or empty.
    """
    refs, problems = index_folder(references, "reference")
    ests, more = index_folder(estimates, "estimate")
    problems += more
    ins = {}
    if inputs is not None:
        ins, more = index_folder(inputs, "input")
        problems += more
    pairs = []
    for name in sorted(refs):
        if name not in ests:
            problems.append(f"{refs[name]}: no estimate named '{name}' in {estimates}")
        elif inputs is not None and name not in ins:
            problems.append(f"{ests[name]}: no input named '{name}' in {inputs}")
        else:
            pairs.append(Pair(name, refs[name], ests[name], ins.get(name)))
    for name in sorted(set(ests) - set(refs)):
        problems.append(f"{ests[name]}: no reference named '{name}' in {references}")
    return pairs, problems


def read_audio(path):
    """Read `path` with utils.audio.read_audio, as float64 (channels, time), and its rate.

    Raises:
        DelimitError: unreadable, empty, damaged, more than 2 channels, or non-finite samples.
    """
    try:
        audio, rate = audio_io.read_audio(path)
    except UnreadableAudio as err:
        raise DelimitError(f"{path}: cannot read audio ({err.reason})") from None
    return audio.astype(np.float64), rate


def load_pair(pair, baseline=None):
    """Read a Pair's files at the reference's rate, trimmed to the common length.

    Args:
        pair: Pair.
        baseline: None (score pair.estimate), "input" (score the input itself) or "loudnorm"
            (the input normalised to LOUDNORM_LUFS).
    Returns:
        (reference, estimate, input or None), float64 (channels, time) each, and the rate.
    Raises:
        DelimitError: a file is unreadable or its channel count differs from the reference's.
    """
    reference, rate = read_audio(pair.reference)
    signals = {}
    for role in ("estimate", "input"):
        path = getattr(pair, role)
        if path is None or (baseline and role == "estimate"):
            continue
        audio, file_rate = read_audio(path)
        if audio.shape[0] != reference.shape[0]:
            raise DelimitError(f"{path}: {audio.shape[0]} channel(s), but the reference "
                               f"{pair.reference} has {reference.shape[0]}")
        signals[role] = resample(audio, file_rate, rate).astype(np.float64)
    if baseline:
        signals["estimate"] = signals["input"]
        if baseline == "loudnorm":
            signals["estimate"] = normalize_loudness(signals["input"], rate, LOUDNORM_LUFS)
    length = min([reference.shape[-1]] + [s.shape[-1] for s in signals.values()])
    limited = signals.get("input")
    return (reference[:, :length], signals["estimate"][:, :length],
            None if limited is None else limited[:, :length], rate)


def dynamics(audio, sample_rate):
    """{lufs, lra, crest, plr} of `audio` (channels, time) (see utils/evaluation/metrics.py)."""
    return {"lufs": metrics.integrated_loudness(audio, sample_rate),
            "lra": metrics.loudness_range(audio, sample_rate),
            "crest": metrics.crest_factor(audio),
            "plr": metrics.peak_to_loudness_ratio(audio, sample_rate)}


def score(reference, estimate, sample_rate, input=None):
    """All metrics of one song.

    Args:
        reference, estimate (, input): float arrays (channels, time), same shape.
        sample_rate: in Hz.
    Returns:
        dict, in column order: si_sdr, multi_mse, lufs, lra, crest, plr of the estimate; with
        an input the same six suffixed `_input` and si_sdr_improvement (estimate - input) and
        multi_mse_improvement (input - estimate: positive is better); the dynamics of the
        reference suffixed `_reference`; seconds (the scored length).
    """
    row = {"si_sdr": metrics.si_sdr(estimate, reference),
           "multi_mse": metrics.multi_resolution_mse(estimate, reference)}
    row.update(dynamics(estimate, sample_rate))
    if input is not None:
        row["si_sdr_input"] = metrics.si_sdr(input, reference)
        row["multi_mse_input"] = metrics.multi_resolution_mse(input, reference)
        row.update({f"{k}_input": v for k, v in dynamics(input, sample_rate).items()})
        row["si_sdr_improvement"] = row["si_sdr"] - row["si_sdr_input"]
        row["multi_mse_improvement"] = row["multi_mse_input"] - row["multi_mse"]
    row.update({f"{k}_reference": v for k, v in dynamics(reference, sample_rate).items()})
    row["seconds"] = reference.shape[-1] / sample_rate
    return row


def evaluate(references, estimates=None, inputs=None, baseline=None):
    """Score every pair; returns (rows: list of dicts with "name" first, problems: list of
    one-line messages naming the file that could not be paired or scored)."""
    if baseline and inputs is None:
        raise DelimitError(f"--baseline {baseline} needs --inputs (the limited songs)")
    pairs, problems = pair_files(references, inputs if baseline else estimates, inputs)
    for problem in problems:
        print(f"eval_delimit: {problem}", file=sys.stderr)
    rows = []
    for pair in tqdm(pairs, desc="scoring", unit="file"):
        try:
            reference, estimate, limited, rate = load_pair(pair, baseline)
        except DelimitError as err:
            problems.append(str(err))
            tqdm.write(f"eval_delimit: {err}", file=sys.stderr)
            continue
        rows.append({"name": pair.name, **score(reference, estimate, rate, limited)})
    return rows, problems


def results_csv(rows):
    """CSV text: a header (name, then the metric columns) and a row per file."""
    columns = list(rows[0]) if rows else ["name", "si_sdr"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row["name"]] + [f"{row[c]:.6g}" for c in columns[1:]])
    return out.getvalue()


def key_metric(rows):
    """The column that ranks files: si_sdr_improvement with inputs, else si_sdr."""
    return "si_sdr_improvement" if rows and "si_sdr_improvement" in rows[0] else "si_sdr"


def summary_markdown(rows, problems, title="De-limiter evaluation", worst=5):
    """Markdown: count, a table of mean/median/min/max per metric (nan values skipped), the
    `worst` files by key_metric and the files that could not be scored."""
    lines = [f"# {title}", "", f"{len(rows)} file(s) scored, {len(problems)} could not be.", ""]
    if rows:
        lines += ["| metric | mean | median | min | max |", "|---|---:|---:|---:|---:|"]
        for column in list(rows[0])[1:]:
            values = np.array([row[column] for row in rows], dtype=np.float64)
            values = values[np.isfinite(values)]
            stats = ([np.mean(values), np.median(values), values.min(), values.max()]
                     if values.size else [np.nan] * 4)
            lines.append(f"| {column} | " + " | ".join(f"{v:.3f}" for v in stats) + " |")
        key = key_metric(rows)
        ranked = sorted(rows, key=lambda row: row[key])[:worst]
        lines += ["", f"Worst {len(ranked)} by {key}:", "", f"| name | {key} | si_sdr |",
                  "|---|---:|---:|"]
        lines += [f"| {row['name']} | {row[key]:.3f} | {row['si_sdr']:.3f} |" for row in ranked]
    if problems:
        lines += ["", "Could not be scored:", ""] + [f"- {p}" for p in problems]
    return "\n".join(lines) + "\n"


def distribution_png(rows):
    """PNG bytes: histogram of key_metric over the files, with its median marked."""
    key = key_metric(rows)
    return plots.metric_histogram_png(np.array([row[key] for row in rows], np.float64), key)


def write_outputs(rows, problems, output, title="De-limiter evaluation"):
    """Write results.csv, summary.md and (with rows) distribution.png into `output`; return
    the summary text."""
    text = summary_markdown(rows, problems, title)
    files = {"results.csv": results_csv(rows).encode(), "summary.md": text.encode()}
    if rows:
        files["distribution.png"] = distribution_png(rows)
    written = []
    try:
        for name, data in files.items():
            write_atomic(os.path.join(output, name), data)
            written.append(os.path.join(output, name))
    except OSError as err:  # folder not creatable or writable, disk full: none of them stays
        for path in written:
            os.remove(path)
        raise DelimitError(f"{output}: cannot write the results ({err.strerror or err})") \
            from None
    return text
