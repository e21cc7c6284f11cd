"""What the networks read: audio features, decoded frames, VGG16 frame features, and their caches."""
