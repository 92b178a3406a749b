"""Benchmarks: `make bench`. Results land in bench/results/."""

import argparse

# As in training/: one image per process, so BLAS threads would only fight for the same cores. Importing handler
# first sets one thread per process before numpy loads (handler/__init__.py).
import handler


def publish(name: str, text: str) -> None:
    """Write one benchmark's markdown into bench/results/ and print it."""
    from pathlib import Path

    path = Path(__file__).resolve().parent / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)


def corpus_arguments(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options of every benchmark over corpus pictures: the corpus, how many pictures, how
    many worker processes."""
    from pathlib import Path

    from training.corpus import DEFAULT_CORPUS  # imported here: numpy must not load before the settings above

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N pictures (a quick look)")
    parser.add_argument("--jobs", type=int, default=handler.cores(), help="worker processes (default: the cores)")
    return parser


def train_arguments(description: str | None) -> argparse.ArgumentParser:
    """corpus_arguments with --pictures: the tuning benchmarks (`make tune`) run on a draw of train pictures."""
    parser = corpus_arguments(description)
    parser.add_argument("--pictures", type=int, default=80, help="how many train pictures (a fixed random draw)")
    return parser


def on_train_draw(args: argparse.Namespace, measure) -> tuple[list[dict], int]:
    """on_draw over the train split: what the tuning benchmarks measure."""
    return on_draw(args, measure, "train")


def on_draw(args: argparse.Namespace, measure, split: str) -> tuple[list[dict], int]:
    """The rows `measure` gives for each picture of a draw of `split` (called with (path, corpus)), in args.jobs
    worker processes, and how many pictures were drawn. The draw is fixed (seed 0), so every variant and every
    run sees the same pictures."""
    import random
    from multiprocessing import Pool

    from training.label import pictures

    names = pictures(split)
    random.Random(0).shuffle(names)
    jobs = [(args.corpus / name, args.corpus) for name in names[: args.limit or args.pictures]]
    with Pool(args.jobs) as pool:
        return [row for found in pool.imap_unordered(measure, jobs) for row in found], len(jobs)
