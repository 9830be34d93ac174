function make_fixtures(eidors_dirs, work, names)
% MAKE_FIXTURES: EIDORS forward solutions for the femeit cross-check fixtures.
%   make_fixtures(eidors_dirs, work, names)
% For each name, builds an EIDORS fwd_model: by hand from the arrays in
% <work>/<name>_in.mat (written by make_fixtures.py), or, for names
% 'common_<str>', with EIDORS's own mk_common_model(<str>, 16).  Then calls
% EIDORS's fwd_solve_1st_order on an image with a non-uniform elem_data and
% writes the model as solved and the voltages to <work>/<name>_out.mat.
% This file contains no EIDORS code: only calls to EIDORS functions.
addpath(eidors_dirs);
warning('off', 'Octave:deprecated-function');  % EIDORS still calls isstr
for k = 1:numel(names)
  name = names{k};
  if strncmp(name, 'common_', 7)
    fmdl = common_model(name(8:end));
  else
    fmdl = model_from_arrays(load(fullfile(work, [name '_in.mat'])), name);
  end
  img = struct();
  img.type = 'image';
  img.name = name;
  img.elem_data = fmdl.sigma_for_fixture(:);
  fmdl = rmfield(fmdl, 'sigma_for_fixture');
  img.fwd_model = fmdl;
  data = fwd_solve_1st_order(img);
  meas = full(data.meas);
  gnd_node = fmdl.gnd_node;
  octave_version = OCTAVE_VERSION;
  % The model as solved, for the fixture (EIDORS's own meshes are only known here).
  nodes = fmdl.nodes;
  elems = fmdl.elems;
  sigma = img.elem_data;
  n_el = numel(fmdl.electrode);
  elec_nodes = cell(n_el, 1);
  z_contact = zeros(n_el, 1);
  for i = 1:n_el
    elec_nodes{i} = fmdl.electrode(i).nodes(:)';
    z_contact(i) = fmdl.electrode(i).z_contact;
  end
  n_st = numel(fmdl.stimulation);
  stim = zeros(n_el, n_st);
  meas_pat = cell(n_st, 1);
  for i = 1:n_st
    stim(:, i) = full(fmdl.stimulation(i).stim_pattern);
    meas_pat{i} = full(fmdl.stimulation(i).meas_pattern);
  end
  save('-v7', fullfile(work, [name '_out.mat']), 'meas', 'gnd_node', 'octave_version', ...
       'nodes', 'elems', 'sigma', 'elec_nodes', 'z_contact', 'stim', 'meas_pat');
  printf('%s: %d readings, max |v| %.6g\n', name, numel(meas), max(abs(meas)));
end
end

function fmdl = model_from_arrays(in, name)
% An EIDORS fwd_model struct built by hand from the arrays of make_fixtures.py.
  fmdl = struct();
  fmdl.type = 'fwd_model';
  fmdl.name = name;
  fmdl.nodes = in.nodes;
  fmdl.elems = in.elems;
  fmdl.boundary = boundary_of(in.elems);
  fmdl.gnd_node = 1;
  fmdl.normalize_measurements = 0;
  fmdl.solve = @fwd_solve_1st_order;
  fmdl.system_mat = @system_mat_1st_order;
  for i = 1:numel(in.elec_nodes)
    fmdl.electrode(i).nodes = in.elec_nodes{i};
    fmdl.electrode(i).z_contact = in.z_contact(i);
  end
  for i = 1:size(in.stim, 2)
    fmdl.stimulation(i).stimulation = 'Amp';
    fmdl.stimulation(i).stim_pattern = sparse(in.stim(:, i));
    fmdl.stimulation(i).meas_pattern = sparse(in.meas{i});
  end
  fmdl.sigma_for_fixture = in.sigma(:);
end

function fmdl = common_model(str)
% A mesh, electrodes and stimulation made by EIDORS's mk_common_model (e.g.
% 'd2C2': 1024 triangles, 16 two-node complete-model electrodes, adjacent
% drive of 10 A, adjacent readings off the driving electrodes), with
% per-electrode contact impedances and a non-uniform conductivity set here.
  imdl = mk_common_model(str, 16);
  fmdl = imdl.fwd_model;
  fmdl.solve = @fwd_solve_1st_order;
  fmdl.system_mat = @system_mat_1st_order;
  L = numel(fmdl.electrode);
  for i = 1:L
    fmdl.electrode(i).z_contact = 0.01 + 0.005 * mod(7 * (i - 1), L);  % ohm m
  end
  c = (fmdl.nodes(fmdl.elems(:, 1), :) + fmdl.nodes(fmdl.elems(:, 2), :) + fmdl.nodes(fmdl.elems(:, 3), :)) / 3;
  sigma = 1 + 0.3 * c(:, 1) + 2 * (hypot(c(:, 1) - 0.3, c(:, 2) - 0.2) < 0.25) ...
          - 0.6 * (hypot(c(:, 1) + 0.4, c(:, 2) + 0.3) < 0.2);
  fmdl.sigma_for_fixture = sigma;
end

function bdy = boundary_of(elems)
% Facets belonging to exactly one element (plain Octave, not EIDORS's find_boundary).
  d = size(elems, 2);
  faces = [];
  for i = 1:d
    faces = [faces; elems(:, [1:i-1, i+1:d])];
  end
  faces = sort(faces, 2);
  [u, ~, j] = unique(faces, 'rows');
  counts = accumarray(j, 1);
  bdy = u(counts == 1, :);
end
