"""The label vocabularies the model, the command language and the datasets share (plain
tuples, no torch, so that light modules such as the command parser import fast)."""

SHAPES = ("cube", "cylinder", "sphere")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
MATERIALS = ("wood", "plastic", "metal", "rubber")
MAX_OBJECTS = 10  # labelled object slots per sample (randomised cells hold up to 10 objects)
# What a thermal camera tells apart: surface temperature bands [deg C] (hot: above HOT_C, cold:
# below COLD_C). Commands say "the hot one", "the cold cube".
HOT_C, COLD_C = 40.0, 12.0
TEMPERATURES = ("hot", "cold")


def temperature_label(t_c: float) -> str:
    """"hot", "cold" or "" (ambient, or unknown when NaN) of a surface temperature [deg C]."""
    return "hot" if t_c > HOT_C else "cold" if t_c < COLD_C else ""
