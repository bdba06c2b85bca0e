"""Signal processing shared by every feature representation: montage, NaN handling, filters,
spectrograms. Functions work on batches (batch, channels, time) without loops over windows."""
