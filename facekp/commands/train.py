r"""Train a facekp model from a named recipe or flags, or resume a run directory.

    facekp-train --config ship68 --run runs/ship68    # a recipe of facekp/configs (flags override)
    facekp-train --task keypoints68 --data ../shared/data/youtube-faces-68 --run runs/kp68 --steps 3000
    facekp-train --run runs/kp68 --steps 6000     # resume with the run's own config, longer
    facekp-train --task identity --data ../shared/data/lfw2017 --run runs/id7
    facekp-train --task embedding --data ../shared/data/lfw --exclude-people lfw2017 \
        --classify-data ../shared/data/lfw2017 --run runs/emb
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import dataclasses
import os

from facekp import configs, tasks
from facekp.cli import ArgumentParser, add_config_flags, given_fields, run_main
from facekp.config import KeypointConfig, RUN_CONTROL_FIELDS, RecognitionConfig, differing_fields, load, validate
from facekp.errors import InputError
from facekp.train_loop import train


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run directory (created, or resumed if it has config.json)")
    parser.add_argument(
        "--config",
        metavar="NAME",
        choices=configs.names(),
        help=f"start from a named recipe of facekp/configs: {', '.join(configs.names())}; flags override its fields",
    )
    parser.add_argument(
        "--new-validation",
        action="store_true",
        help="resume although --data now gives another validation set: the best checkpoint is chosen anew on it "
        "(the earlier one is kept in RUN/best-until-step-N)",
    )
    add_config_flags(parser, KeypointConfig, RecognitionConfig)
    return parser.parse_args(argv)


def new_config(args):
    """The config that the flags (and --config's recipe) describe."""
    if args.config:
        base = configs.get(args.config)
        return configs.get(args.config, **given_fields(args, type(base)))
    config_class = tasks.get(args.task or KeypointConfig.task).config_class
    return config_class(**given_fields(args, config_class))


def recipe_fields(cfg):
    """The fields of a config that a flag sets (not those the data fills in, such as class names)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.metadata.get("flag", True)}


def build_config(args):
    """A new run's config, or a resumed run's own config with run-control overrides; the flags
    of a resumed run (and its recipe) must describe the same run."""
    if os.path.isfile(os.path.join(args.run, "config.json")):
        cfg = load(args.run)
        if getattr(cfg, "members", ()):
            raise InputError(
                f"{args.run}: an ensemble of trained runs (ensemble.py), not trained itself; train its members"
            )
        given = recipe_fields(new_config(args)) if args.config else given_fields(args, type(cfg))
        changed = [
            name for name in differing_fields(cfg, dataclasses.replace(cfg, **given)) if name not in RUN_CONTROL_FIELDS
        ]
        if changed:
            flags = ", ".join(f"--{n.replace('_', '-')} ({getattr(cfg, n)!r} -> {given[n]!r})" for n in changed)
            raise InputError(
                f"{args.run}: this run was made with other settings: {flags}; "
                f"resume without them, or start a new run with another --run"
            )
        explicit = given_fields(args, type(cfg))
        cfg = dataclasses.replace(cfg, **{k: v for k, v in explicit.items() if k in RUN_CONTROL_FIELDS})
    else:
        if os.path.exists(args.run) and os.listdir(args.run):
            raise InputError(f"{args.run}: folder exists but holds no config.json; choose a new --run")
        cfg = new_config(args)
    validate(cfg)  # every value is checked before any data is read
    return dataclasses.replace(cfg, data=tasks.resolve_data_dir(cfg.data, tasks.get(cfg.task).data_subdir))


def main():
    args = parse_args()
    cfg = build_config(args)
    print("config:", ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()))
    train(cfg, args.run, args.new_validation)  # it ends with the validation metrics, the run and the best checkpoint


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
