"""Sound from vision (the sound-from-video experiment): predict a clip's audio envelope, one value per video frame.

Modules: `targets` (waveform -> per-frame envelope, graph code), `config` (EnvelopeConfig),
`envelope_dataset` (tf.data clips of frames + targets), `envelope_model` (frozen or fine-tuned L3
vision tower -> 2-layer LSTM -> 3 fc -> sigmoid), `envelope_task` (the training task),
`envelope_metrics` (correlation, peak matching, good / not-so-good / bad), `baselines`,
`figures`, `evaluation` (`l3net_eval envelope`).
"""
