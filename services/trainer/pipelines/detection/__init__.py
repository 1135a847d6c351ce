"""``bounding_box``: object detection on the CPU with aggregated channel features (ACF).

Each image becomes ten channels -- three opponent colours, the gradient magnitude and six
orientation bins weighted by it (HOG's cells without its block normalisation) -- held in a
summed-area table, so that a window's features cost a few look-ups whatever its size: the
channel means over a 4x4 grid of cells, over a strip just outside each of its sides, and
its size. Windows slide over the image at "anchor" sizes: k-means clusters (by IoU) of the
training boxes' widths and heights, plus sizes for boxes no cluster fits.

A cascade tells each window's class, or background: a linear screen (logistic regression)
retrained on the background windows it scores highest (hard-negative mining), then gradient
boosting on the windows the screen lets through. A ridge regression per class nudges each
window to the box; detections go through non-maximum suppression class by class.

The modules, in the order the data flows: ``images`` (pictures at working scale, boxes in
and out of them), ``channels``, ``windows`` (where windows lie), ``window_sizes`` (the
anchors), ``window_features``, ``training_windows`` and ``hard_negatives`` (the samples),
``classifiers`` (screen and cascade), ``boxes`` (overlap, suppression),
``box_regression``, ``training`` and ``detector`` (fitting and applying a ``Detector``),
and ``pipeline`` (the :class:`ObjectDetection` plug-in). numpy, scikit-learn, Pillow and
threadpoolctl are imported inside the functions that use them, as in every pipeline."""

from services.trainer.pipelines.detection.pipeline import ObjectDetection

__all__ = ["ObjectDetection"]
