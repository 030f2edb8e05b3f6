"""Models: the shared VGG block builder, audio front ends, towers, L3-Net and AVE-Net."""
