"""``habitus demo``: a real Home Assistant with Habitus, a virtual home and a dataset replayed into it.

Modules, in the order a run uses them:

* ``paths``: where the repository, the datasets and the two integrations live;
* ``home``: the virtual home planned from a dataset's vocabulary (one HA device per dataset device);
* ``controls`` and ``mapping``: a dataset action (``"Light:switch on"``) to a real HA service call;
* ``timeline``: dataset time (SmartGen hours) to accelerated wall-clock time;
* ``config_dir``, ``hass_process``: a throwaway HA config dir and the ``hass`` server process;
* ``client``, ``onboarding``, ``habitus_setup``: HA's REST API (onboarding, auth, config flows);
* ``replay``: the loop that sends the service calls; ``summary``: the figures a run reports;
* ``plan``: the options and the dataset, checked before HA starts; ``startup``: HA ready, Habitus added
  and bootstrapped; ``pasts``: the pasts written before the live replay (and the routine
  suggestions); ``run_figures``: the live figures a run reports; ``console``: its output;
* ``runner``: ties them together (``run_demo``).

``virtual_home/`` is a tiny custom integration copied into the throwaway config dir. It is demo
tooling only: it is not part of ``custom_components/habitus`` and HACS never ships it.
"""
