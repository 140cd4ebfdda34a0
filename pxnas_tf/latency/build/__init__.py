"""Building latency tables: Keras/TFLite models of table keys, the resumable
table build, the calibration chains, validation against whole nets, Keras
nets as primitive ops."""
