"""The omni model: one file per modality (``modalities/``), the shared-latent projection and
gated router (``router``), the task heads (``heads``), :class:`~.omni.OmniModel` that ties them
together (``omni``), its configuration tree (``model_config``) and checkpoints (``checkpoint``).
Imports only the shared base (``omni_ros.core``)."""
