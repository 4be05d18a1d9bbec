"""Train a facekp model from flags, or resume a run directory.

    python train.py --task keypoints68 --data ../shared/data/youtube-faces-68 --run runs/kp68 --steps 3000
    python train.py --run runs/kp68 --steps 6000     # resume with the run's own config, longer
    python train.py --task identity --data ../shared/data/lfw2017 --run runs/id7
    python train.py --task embedding --data ../shared/data/lfw --exclude-people lfw2017 \
        --classify-data ../shared/data/lfw2017 --run runs/emb
"""
import argparse
import dataclasses
import os

from facekp.cli import ArgumentParser, add_config_flags, given_fields, run_main
from facekp.config import (KeypointConfig, RUN_CONTROL_FIELDS, RecognitionConfig, differing_fields, load,
                           validate)
from facekp.errors import InputError


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run directory (created, or resumed if it has config.json)")
    add_config_flags(parser, KeypointConfig, RecognitionConfig)
    return parser.parse_args(argv)


def build_config(args):
    """A new run's config from flags, or a resumed run's own config with run-control overrides."""
    from facekp import tasks
    if os.path.isfile(os.path.join(args.run, "config.json")):
        cfg = load(args.run)
        given = given_fields(args, type(cfg))
        changed = [name for name in differing_fields(cfg, dataclasses.replace(cfg, **given))
                   if name not in RUN_CONTROL_FIELDS]
        if changed:
            flags = ", ".join(f"--{n.replace('_', '-')} ({getattr(cfg, n)!r} -> {given[n]!r})" for n in changed)
            raise InputError(f"{args.run}: this run was made with other settings: {flags}; "
                             f"resume without them, or start a new run with another --run")
        cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if k in RUN_CONTROL_FIELDS})
    else:
        if os.path.exists(args.run) and os.listdir(args.run):
            raise InputError(f"{args.run}: folder exists but holds no config.json; choose a new --run")
        task = tasks.get(args.task or KeypointConfig.task)
        cfg = task.config_class(**given_fields(args, task.config_class))
    validate(cfg)  # every value is checked before any data is read
    return dataclasses.replace(cfg, data=tasks.resolve_data_dir(cfg.data, tasks.get(cfg.task).data_subdir))


def main():
    args = parse_args()
    cfg = build_config(args)
    print("config:", ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()))
    from facekp.train_loop import train
    results = train(cfg, args.run)
    print("validation:", ", ".join(f"{k}={v:.4f}" for k, v in results.items()))


if __name__ == "__main__":
    run_main(main)
