package deploy

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The subset of the Compose specification the checks need. Compose allows
// several spellings for many fields (short string or long mapping form, list
// or map); each type below accepts every spelling it may meet. Fields the
// checks do not read are ignored, so a valid compose file never fails to load
// here for lack of a field.

// composeFile is a docker-compose.yml.
type composeFile struct {
	Services map[string]*service `yaml:"services"`
}

// service is one entry under services:.
type service struct {
	Image           string       `yaml:"image"`
	Build           *buildSpec   `yaml:"build"`
	Command         stringList   `yaml:"command"`
	Environment     envMap       `yaml:"environment"`
	DependsOn       dependsOn    `yaml:"depends_on"`
	Healthcheck     *healthcheck `yaml:"healthcheck"`
	Ports           []portSpec   `yaml:"ports"`
	Volumes         []volumeSpec `yaml:"volumes"`
	StopGracePeriod string       `yaml:"stop_grace_period"`
}

// buildSpec is `build: <context>` or `build: {context:, dockerfile:}`.
type buildSpec struct {
	Context    string
	Dockerfile string
}

func (b *buildSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		b.Context = n.Value
		return nil
	case yaml.MappingNode:
		var m struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		b.Context, b.Dockerfile = m.Context, m.Dockerfile
		return nil
	}
	return fmt.Errorf("line %d: build: want a string or a mapping", n.Line)
}

// stringList is a list of strings, or one string split on spaces (Compose's
// shell form of command: and healthcheck test:).
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = strings.Fields(n.Value)
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// envMap is environment: as a mapping or as a list of KEY=VALUE.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	m := envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var raw map[string]*string
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for k, v := range raw {
			if v != nil {
				m[k] = *v
			} else {
				m[k] = ""
			}
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment: want a mapping or a list", n.Line)
	}
	*e = m
	return nil
}

// dependsOn maps a service name to its condition; the short list form means
// condition service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	m := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			m[s] = "service_started"
		}
	case yaml.MappingNode:
		var raw map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for k, v := range raw {
			if v.Condition == "" {
				v.Condition = "service_started"
			}
			m[k] = v.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on: want a list or a mapping", n.Line)
	}
	*d = m
	return nil
}

// healthcheck is a service's healthcheck: block.
type healthcheck struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

// portSpec is one ports: entry: "[ip:]published:target[/proto]" or the
// long form. Published is "" when the port is not published on the host.
type portSpec struct {
	Published string
	Target    string
}

func (p *portSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		s, _, _ := strings.Cut(n.Value, "/")
		parts := strings.Split(s, ":")
		switch len(parts) {
		case 1:
			p.Target = parts[0]
		default:
			p.Published, p.Target = parts[len(parts)-2], parts[len(parts)-1]
		}
		return nil
	case yaml.MappingNode:
		var m struct {
			Published string `yaml:"published"`
			Target    string `yaml:"target"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		p.Published, p.Target = m.Published, m.Target
		return nil
	}
	return fmt.Errorf("line %d: ports: want a string or a mapping", n.Line)
}

// volumeSpec is one volumes: entry: "source:target[:mode]" or the long form.
type volumeSpec struct {
	Source string
	Target string
}

func (v *volumeSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		parts := strings.Split(n.Value, ":")
		if len(parts) == 1 {
			v.Target = parts[0]
		} else {
			v.Source, v.Target = parts[0], parts[1]
		}
		return nil
	case yaml.MappingNode:
		var m struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		v.Source, v.Target = m.Source, m.Target
		return nil
	}
	return fmt.Errorf("line %d: volumes: want a string or a mapping", n.Line)
}

// parseCompose decodes a compose file. YAML anchors, aliases and merge keys
// (<<) are resolved by the YAML decoder, as Compose does.
func parseCompose(data []byte) (*composeFile, error) {
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse compose file: %w", err)
	}
	if len(c.Services) == 0 {
		return nil, fmt.Errorf("parse compose file: %w", errNoServices)
	}
	return &c, nil
}
