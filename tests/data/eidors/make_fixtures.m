function make_fixtures(eidors_dirs, work, names)
% MAKE_FIXTURES: EIDORS forward solutions for the femeit cross-check fixtures.
%   make_fixtures(eidors_dirs, work, names)
% For each name, reads <work>/<name>_in.mat (written by make_fixtures.py),
% builds an EIDORS fwd_model and image by hand and calls EIDORS's
% fwd_solve_1st_order; writes <work>/<name>_out.mat.
% This file contains no EIDORS code: only calls to EIDORS functions.
addpath(eidors_dirs);
warning('off', 'Octave:deprecated-function');  % EIDORS still calls isstr
for k = 1:numel(names)
  name = names{k};
  in = load(fullfile(work, [name '_in.mat']));
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
  img = struct();
  img.type = 'image';
  img.name = name;
  img.fwd_model = fmdl;
  img.elem_data = in.sigma(:);
  data = fwd_solve_1st_order(img);
  meas = full(data.meas);
  gnd_node = fmdl.gnd_node;
  octave_version = OCTAVE_VERSION;
  save('-v7', fullfile(work, [name '_out.mat']), 'meas', 'gnd_node', 'octave_version');
  printf('%s: %d readings, max |v| %.6g\n', name, numel(meas), max(abs(meas)));
end
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
