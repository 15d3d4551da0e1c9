"""Model pipeline: FER2013 → Keras training → full-int8 TFLite → evaluation; asset scripts."""
