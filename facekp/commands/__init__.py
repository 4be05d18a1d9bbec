"""The command-line programs, installed as console scripts by `pip install -e .` (setup.py):
facekp-train, facekp-predict, facekp-submit, facekp-verify and facekp-export. The scripts at the
repository's top (train.py, predict.py, infer_and_submit.py, verify.py, export.py) call the same
`run()`. Each module mutes TensorFlow's start-up lines before its imports load it."""
