"""Learned posture and fall classification over per-track keypoint sequences.

* :mod:`guardian.fall.data` -- the labelled corpus clips, cached pose-model detections,
  the UP-Fall MediaPipe skeletons (training and evaluation data);
* :mod:`guardian.fall.features` -- per-frame normalised, camera-free skeleton features;
* :mod:`guardian.fall.model` -- the small temporal convolution, run in numpy;
* :mod:`guardian.fall.classifier` -- :class:`~guardian.fall.classifier.FallClassifier`,
  a drop-in for :class:`guardian.pose.PostureTracker` (``pose: model:`` in the site file);
* :mod:`guardian.fall.train` and :mod:`guardian.cli.fall` -- ``guardian train-fall``.

The weights shipped in ``weights/`` say in their README which data and command made them.
"""
