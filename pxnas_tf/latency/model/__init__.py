"""The latency model, pure: table keys, the table format, the op model, the
streaming and context terms, and the one predictor (`predictor.predict`).
No Keras, no TensorFlow, no LiteRT (checked by the import contract)."""
