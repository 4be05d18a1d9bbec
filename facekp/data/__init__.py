"""Data readers, the in-memory DataSet, augmentation and tf.data pipelines."""
