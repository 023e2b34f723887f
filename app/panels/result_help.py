"""What each number in the Results panel means: what it is, its unit and sign, and its thresholds.

The thresholds are read from the code that applies them (``volta_core``), so the text cannot drift
from what the app does.
"""

from __future__ import annotations


def _thresholds() -> dict[str, float]:
    from volta_core.infer.quality import NOT_A_HEAD, OOD_LIMIT, THICK_SLICE_MM
    from volta_core.preprocess import QUALITY_WARNING_THRESHOLD

    return {"registration": QUALITY_WARNING_THRESHOLD, "not_a_head": NOT_A_HEAD, "ood": OOD_LIMIT,
            "thick": THICK_SLICE_MM}


def registration_threshold() -> float:
    """Registration quality below this is shown as doubtful (``QUALITY_WARNING_THRESHOLD``)."""
    from volta_core.preprocess import QUALITY_WARNING_THRESHOLD

    return QUALITY_WARNING_THRESHOLD


def result_help(key: str) -> str:
    """Plain-text help for the Results panel row ``key`` ("" if there is none).

    ``key`` is the row's label as shown, e.g. "Left hippocampus (corrected)" or "Dice vs aseg.mgz".
    """
    t = _thresholds()
    base = key.replace(" (corrected)", "")
    if base.startswith("Dice vs"):
        return ("Dice overlap between this mask and the other one, per side: 2 x |A and B| / (|A| + |B|). "
                "No unit, from 0 (no overlap) to 1 (identical). Two expert label maps of the same "
                "hippocampus typically agree to about 0.80-0.85, so values in that range are as good as a "
                "reference allows. '-' means both masks are empty on that side.")
    texts = {
        "Left hippocampus": "Volume of the left hippocampus in the mask, in millilitres (mL = cm3): the number "
                            "of labelled voxels times the voxel volume, on the scan's own grid. In brackets: "
                            "the same as a percentage of the intracranial volume (ICV) estimate. "
                            "'(corrected)' means the mask was edited after the prediction.",
        "Right hippocampus": "Volume of the right hippocampus in the mask, in millilitres (mL = cm3), and as a "
                             "percentage of the intracranial volume (ICV) estimate.",
        "Total": "Left + right hippocampus volume, in mL, and as a percentage of the ICV estimate.",
        "Asymmetry index": "(L - R) / ((L + R) / 2): the left-right volume difference relative to the mean "
                           "of both sides. No unit. Positive: left larger; negative: right larger; 0: equal. "
                           "+0.10 means the left is 10 % of the mean volume larger than the right.",
        "ICV estimate": "Intracranial volume estimate in mL: the template's intracranial volume scaled by "
                        "the determinant of the affine registration to it (eTIV-style). It is an estimate "
                        "from the registration, not a segmentation of the skull.",
        "P(male)": "Probability (0-1) the sex head gives to 'male', calibrated on held-out subjects and "
                   "never beyond the range it showed there. The text in brackets is the model card's caveat: "
                   "whom the head has seen and how well it did (the bundled head is a weak cue, below head "
                   "size alone). 'not trained' means the model has no trained sex head: fine-tune one on "
                   "labelled scans.",
        "P(Alzheimer's disease)": "Probability (0-1) the AD head gives to Alzheimer's disease vs. control. "
                                  "'not trained' means the model has no trained AD head. Not a diagnosis.",
        "Registration quality": (
            "How well the scan was aligned to the template: the normalised cross-correlation of the aligned "
            f"scan with the template inside the brain, from 0 to 1 (higher is better). Below "
            f"{t['registration']:.2f} the alignment is doubtful and a warning is shown; below "
            f"{t['not_a_head']:.2f} the registration failed (or, if the image is not head-sized, it is not a "
            "head). 72 real adult scans (skull-stripped, one site) give 0.27-0.59, median 0.51: an "
            "individual brain correlates less with the average template than the shipped model's average "
            "test brains (0.63-0.88). A poor alignment puts the model's input region off the "
            "hippocampi: check the mask."),
        "Left amygdala": "Volume of the left amygdala in mL (models that segment it). Like the hippocampus "
                         "volumes, from the labelled voxels on the scan's own grid.",
        "Right amygdala": "Volume of the right amygdala in mL (models that segment it).",
        "Left inferior lateral ventricle": "Volume of the left inferior lateral ventricle (temporal horn) in mL. "
                                           "It widens as the hippocampus shrinks.",
        "Right inferior lateral ventricle": "Volume of the right inferior lateral ventricle (temporal horn) in mL.",
        "HOC": "Hippocampal occupancy per side: hippocampus / (hippocampus + inferior lateral ventricle), "
               "from 0 to 1, no unit. It falls as the hippocampus shrinks and the temporal horn widens "
               "(an atrophy marker that commercial volumetry reports). Only for models that segment the "
               "inferior lateral ventricle. Compare it with other scans measured by the same model.",
        "Template correlation": "Signed correlation of the preprocessed scan with the template's T1 inside the "
                                "brain (-1 to 1). Negative means inverted, T2-like contrast: the model was "
                                "trained for T1-weighted scans and a warning is shown. A model with a T1 "
                                "segmenter uses it for scans at or above the gate its model card gives ("
                                "real T1 scans lie around 0.6-0.8) and its general segmenter for the others; "
                                "the Model line says which one drew the masks.",
        "OOD score": (
            "Out-of-distribution score: how far this scan's encoder features lie from the training data, "
            "scaled so that 1.0 is the 95th percentile of the training scans. No unit; lower is more typical. "
            f"Above {t['ood']:.1f} a warning says the scan is unlike the training data. "
            "'n/a' means the model bundle has no feature statistics."),
    }
    return texts.get(base, "")
