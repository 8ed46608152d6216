"""The label vocabularies the model, the command language and the datasets share (plain
tuples, no torch, so that light modules such as the command parser import fast)."""

SHAPES = ("cube", "cylinder", "sphere")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
MATERIALS = ("wood", "plastic", "metal", "rubber")
