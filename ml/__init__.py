"""Batsite's analysis engine: plain Python, never imports Django.

The pipeline, lowest layer first:
    ml.audio        load a WAV, correct for time expansion, resample, high-pass
    ml.metadata     GUANO, detector file-name time stamps, Batlogger XML sidecars
    ml.labels       the one label vocabulary (species, pairs, groups, call types, noise)
    ml.spectrogram  torchaudio spectrogram of the bat band
    ml.detect       call events and passes
    ml.synth        synthetic bat calls, written as a dataset folder
    ml.dataset      the dataset folder format (labels.csv, events.csv)
    ml.model, ml.train, ml.evaluate, ml.infer, ml.explain, ml.plots: the classifier (part 2)
    ml.xenocanto    Xeno-Canto API v3 client

`python -m ml COMMAND --help` lists the command-line tools.
"""
