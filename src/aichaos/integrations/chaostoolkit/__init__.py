"""Chaos Toolkit extension: aichaos actions and probes for ``chaos run`` experiments.

Every function here is called by Chaos Toolkit's python provider::

    {"type": "action", "name": "start-proxy",
     "provider": {"type": "python", "module": "aichaos.integrations.chaostoolkit.actions",
                  "func": "start_proxy",
                  "arguments": {"name": "api", "upstream": "127.0.0.1:8000"}}}

* :mod:`~aichaos.integrations.chaostoolkit.actions` -- ``start_proxy`` / ``stop_proxy``
  (a chaos proxy in a leashed background process), ``add_toxic`` / ``remove_toxic`` /
  ``reset_proxy`` (TCP, HTTP and AI toxics), ``corrupt_dataset`` / ``restore_dataset``,
  ``apply_fault`` / ``revert_fault`` / ``revert_all_faults`` (any registered fault:
  model, resource, process, file faults);
* :mod:`~aichaos.integrations.chaostoolkit.probes` -- ``load`` (the open-loop generator's
  figures for a short run), ``model_quality`` (accuracy / silent failures / agreement),
  ``proxy_toxics`` and ``active_faults``.

Faults applied with ``apply_fault`` live in the ``chaos`` process: they are renewed from a
background thread and handed to aichaos' watchdog, so they are undone at their TTL if the
``chaos`` process dies, and reverted at its exit otherwise.
"""
