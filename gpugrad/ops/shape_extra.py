from .shape import tensor_unfold  # noqa: F401 - transitional: _tensor_methods imports it here until its edit
